"""POST /twilio/call-status: verified callbacks keep the call registry current.

Callbacks are signed with twilio's own RequestValidator, over the exact URL, as Twilio signs them.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from helpers import (
    TWILIO_NUMBER,
    Bridge,
    new_call_sid,
    new_event_body,
    new_id,
    post_callback,
    status_params,
)

pytestmark = pytest.mark.integration

CALLER = "+15551230000"


def identity() -> str:
    return f"user{new_id()[4:16]}"


def registered(bridge: Bridge, key: str) -> str | None:
    reply = bridge.calls("GET", key)
    return reply.json()["call_sid"] if reply.status == 200 else None


def inbound(bridge: Bridge, name: str, child: str, status: str, seq: int, parent: str | None = None) -> int:
    """A callback about the SDK leg of a call the user receives: <Dial><Client>name</Client></Dial>."""
    params = status_params(child, status, to=f"client:{name}", from_=CALLER, parent=parent or new_call_sid(), seq=seq)
    return post_callback(bridge, params).status


# -- calls the SDK user receives -------------------------------------------------------------------


def test_incoming_call_registers_the_client_leg_and_its_end_removes_it(bridge: Bridge) -> None:
    # Given bob's SDK leg of an incoming call
    name, child, parent = identity(), new_call_sid(), new_call_sid()

    # When Twilio reports it initiated, ringing and answered
    for seq, status in enumerate(["initiated", "ringing", "in-progress"]):
        assert inbound(bridge, name, child, status, seq, parent) == 204

    # Then identity:bob maps to the SDK leg, not the caller's leg
    assert registered(bridge, f"identity:{name}") == child

    # When the call completes, the mapping goes
    assert inbound(bridge, name, child, "completed", 3, parent) == 204
    assert registered(bridge, f"identity:{name}") is None


@pytest.mark.parametrize("status", ["busy", "failed", "no-answer", "canceled"])
def test_every_final_status_removes_the_call(bridge: Bridge, status: str) -> None:
    name, child = identity(), new_call_sid()
    inbound(bridge, name, child, "ringing", 1)
    inbound(bridge, name, child, status, 2)
    assert registered(bridge, f"identity:{name}") is None


def test_callback_without_a_client_side_is_acknowledged_and_ignored(bridge: Bridge) -> None:
    # Given a plain phone call: no client: address on the SDK side
    params = status_params(new_call_sid(), "ringing", to="+15559998888", from_=CALLER, parent=new_call_sid(), seq=1)

    # When its callback arrives
    reply = post_callback(bridge, params)

    # Then Twilio gets its 204 and nothing is registered
    assert reply.status == 204
    assert registered(bridge, "identity:+15559998888") is None


# -- calls the SDK user places ----------------------------------------------------------------------


def test_outgoing_call_registers_the_parent_leg_under_the_key_in_the_url(bridge: Bridge) -> None:
    # Given alice placing a call through the TwiML App: her SDK leg is the parent
    name, sdk_leg, dialled = identity(), new_call_sid(), new_call_sid()
    query = f"key=identity:{name}&leg=parent"

    # When the <Dial><Number> leg's callbacks arrive at the URL that names her key
    for seq, status in enumerate(["initiated", "ringing", "in-progress"]):
        params = status_params(dialled, status, to="+15557654321", from_=TWILIO_NUMBER, parent=sdk_leg, seq=seq)
        assert post_callback(bridge, params, query=query).status == 204

    # Then her key maps to the parent (SDK) leg, not the dialled leg
    assert registered(bridge, f"identity:{name}") == sdk_leg

    # When the TwiML App reports her call completed (From client:alice, no ParentCallSid, no SequenceNumber)
    app_callback = status_params(sdk_leg, "completed", to="+15557654321", from_=f"client:{name}")
    assert post_callback(bridge, app_callback).status == 204

    # Then the mapping goes
    assert registered(bridge, f"identity:{name}") is None


def test_key_in_the_url_wins_over_the_client_address(bridge: Bridge) -> None:
    name, other, child = identity(), identity(), new_call_sid()
    params = status_params(child, "ringing", to=f"client:{other}", from_=CALLER, parent=new_call_sid(), seq=1)
    post_callback(bridge, params, query=f"key=crm:{name}")
    assert registered(bridge, f"crm:{name}") == child
    assert registered(bridge, f"identity:{other}") is None


def test_child_leg_ending_with_leg_parent_removes_the_parent(bridge: Bridge) -> None:
    name, sdk_leg, dialled = identity(), new_call_sid(), new_call_sid()
    query = f"key=identity:{name}&leg=parent"
    ringing = status_params(dialled, "ringing", to="+15557654321", from_=TWILIO_NUMBER, parent=sdk_leg, seq=1)
    busy = status_params(dialled, "busy", to="+15557654321", from_=TWILIO_NUMBER, parent=sdk_leg, seq=2)
    post_callback(bridge, ringing, query=query)
    post_callback(bridge, busy, query=query)
    assert registered(bridge, f"identity:{name}") is None


# -- signatures -------------------------------------------------------------------------------------


def test_bad_signature_is_a_403_and_changes_nothing(bridge: Bridge) -> None:
    # Given a callback signed with another token
    name, child = identity(), new_call_sid()
    params = status_params(child, "ringing", to=f"client:{name}", from_=CALLER, parent=new_call_sid(), seq=1)

    # When it arrives
    reply = post_callback(bridge, params, token="not-the-auth-token")

    # Then it is refused and nothing is registered
    assert reply.status == 403
    assert reply.json()["code"] == "invalid_twilio_signature"
    assert registered(bridge, f"identity:{name}") is None


def test_missing_signature_is_a_403(bridge: Bridge) -> None:
    params = status_params(new_call_sid(), "ringing", to="client:x", from_=CALLER, parent=new_call_sid(), seq=1)
    assert post_callback(bridge, params, signature="").status == 403


def test_tampered_query_is_a_403(bridge: Bridge) -> None:
    # Given a callback signed for alice's key
    name, sdk_leg = identity(), new_call_sid()
    params = status_params(new_call_sid(), "ringing", to="+1555", from_=TWILIO_NUMBER, parent=sdk_leg, seq=1)
    signed = f"https://127.0.0.1:3000/twilio/call-status?key=identity:{name}&leg=parent"

    # When someone swaps the key in the URL
    reply = post_callback(bridge, params, query="key=identity:mallory&leg=parent", signed_url=signed)

    # Then the signature no longer matches: the query is part of what Twilio signs
    assert reply.status == 403
    assert registered(bridge, "identity:mallory") is None


def test_public_base_url_with_a_base_path_replaces_scheme_host_and_prefix(
    bridge: Bridge, fresh_runtime: pytest.MonkeyPatch
) -> None:
    # Given the bridge behind a custom domain whose API mapping has a base path
    fresh_runtime.setenv("PUBLIC_BASE_URL", "https://hooks.example.com/bridge")
    name, child = identity(), new_call_sid()
    params = status_params(child, "ringing", to=f"client:{name}", from_=CALLER, parent=new_call_sid(), seq=1)

    # When Twilio signs the public URL, while Lambda sees the execute-api host and the route's path
    reply = post_callback(
        bridge,
        params,
        query="source=crm",
        host="abc123.execute-api.us-east-1.amazonaws.com",
        signed_url="https://hooks.example.com/bridge/twilio/call-status?source=crm",
    )

    # Then it verifies and the call is registered
    assert reply.status == 204
    assert registered(bridge, f"identity:{name}") == child


def test_without_public_base_url_the_execute_api_host_is_what_is_signed(
    bridge: Bridge, fresh_runtime: pytest.MonkeyPatch
) -> None:
    fresh_runtime.setenv("PUBLIC_BASE_URL", "https://hooks.example.com")
    name = identity()
    params = status_params(new_call_sid(), "ringing", to=f"client:{name}", from_=CALLER, parent=new_call_sid(), seq=1)
    # Signed for the host Lambda sees, but the deployment says Twilio calls another one
    assert post_callback(bridge, params, host="abc123.execute-api.us-east-1.amazonaws.com").status == 403


def test_twilio_secret_without_an_auth_token_fails_closed(bridge: Bridge, fresh_runtime: pytest.MonkeyPatch) -> None:
    import json

    from local.stack import TWILIO_SECRET_NAME

    account = bridge.stack.credentials.account
    bridge.stack.put_secret(
        TWILIO_SECRET_NAME,
        json.dumps(
            {
                "account_sid": account.account_sid,
                "api_key_sid": account.api_key_sid,
                "api_key_secret": account.api_key_secret,
            }
        ),
    )
    name = identity()
    params = status_params(new_call_sid(), "ringing", to=f"client:{name}", from_=CALLER, parent=new_call_sid(), seq=1)
    assert post_callback(bridge, params).status == 403
    assert registered(bridge, f"identity:{name}") is None


# -- order, retries, concurrency --------------------------------------------------------------------


def test_late_ringing_never_resurrects_a_completed_call(bridge: Bridge) -> None:
    # Given a call that completed
    name, child, parent = identity(), new_call_sid(), new_call_sid()
    inbound(bridge, name, child, "in-progress", 2, parent)
    inbound(bridge, name, child, "completed", 3, parent)

    # When its ringing callback arrives late (out of order)
    assert inbound(bridge, name, child, "ringing", 1, parent) == 204

    # Then the call stays gone
    assert registered(bridge, f"identity:{name}") is None


def test_callbacks_out_of_order_end_in_the_right_state(bridge: Bridge) -> None:
    name, child, parent = identity(), new_call_sid(), new_call_sid()
    inbound(bridge, name, child, "in-progress", 2, parent)
    inbound(bridge, name, child, "initiated", 0, parent)
    inbound(bridge, name, child, "ringing", 1, parent)
    assert registered(bridge, f"identity:{name}") == child


def test_replayed_callback_changes_nothing(bridge: Bridge) -> None:
    # Given a registered call
    name, child, parent = identity(), new_call_sid(), new_call_sid()
    params = status_params(child, "ringing", to=f"client:{name}", from_=CALLER, parent=parent, seq=1)
    post_callback(bridge, params)
    before = bridge.stack.client("dynamodb").get_item(
        TableName="CallsTable", Key={"recipient": {"S": f"identity:{name}"}}
    )

    # When Twilio retries the same callback
    assert post_callback(bridge, params).status == 204

    # Then the stored item is untouched (not even its version)
    after = bridge.stack.client("dynamodb").get_item(
        TableName="CallsTable", Key={"recipient": {"S": f"identity:{name}"}}
    )
    assert after["Item"] == before["Item"]


def test_concurrent_callbacks_for_one_key_lose_no_update(bridge: Bridge) -> None:
    # Given eight devices of one identity ringing at once (eight legs, eight callbacks in parallel)
    name = identity()
    legs = [new_call_sid() for _ in range(8)]
    base = time.time()

    def ring(item: tuple[int, str]) -> int:
        index, leg = item
        params = status_params(
            leg, "ringing", to=f"client:{name}", from_=CALLER, parent=new_call_sid(), seq=1, timestamp=base + index
        )
        return post_callback(bridge, params).status

    # When they all arrive at the same time
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(ring, enumerate(legs)))

    # Then every leg is registered: no write overwrote another
    assert statuses == [204] * 8
    listed = {call["call_sid"] for call in bridge.calls("GET", f"identity:{name}").json()["calls"]}
    assert listed == set(legs)


# -- several calls for one identity -------------------------------------------------------------------


def test_two_overlapping_calls_newest_wins_and_the_older_takes_over(bridge: Bridge) -> None:
    # Given bob on a call, then on a second one that started later (a transfer, another device)
    name = identity()
    first, second = new_call_sid(), new_call_sid()
    started = time.time()
    post_callback(
        bridge,
        status_params(
            first, "ringing", to=f"client:{name}", from_=CALLER, parent=new_call_sid(), seq=1, timestamp=started
        ),
    )
    post_callback(
        bridge,
        status_params(
            second, "ringing", to=f"client:{name}", from_=CALLER, parent=new_call_sid(), seq=1, timestamp=started + 5
        ),
    )

    # Then the newer call gets the messages
    assert registered(bridge, f"identity:{name}") == second

    # When the older call ends, the newer stays; when the newer ends, nothing is left
    inbound(bridge, name, first, "completed", 2)
    assert registered(bridge, f"identity:{name}") == second

    # And when instead the newer one ends while the older is live, the older takes over
    third = new_call_sid()
    post_callback(
        bridge,
        status_params(
            third, "ringing", to=f"client:{name}", from_=CALLER, parent=new_call_sid(), seq=1, timestamp=started + 10
        ),
    )
    inbound(bridge, name, third, "completed", 2)
    assert registered(bridge, f"identity:{name}") == second


def test_end_of_an_old_call_never_removes_a_newer_one(bridge: Bridge) -> None:
    name = identity()
    old, new = new_call_sid(), new_call_sid()
    inbound(bridge, name, old, "ringing", 1)
    inbound(bridge, name, new, "ringing", 1)
    inbound(bridge, name, old, "completed", 2)
    assert registered(bridge, f"identity:{name}") == new


# -- the whole cycle ----------------------------------------------------------------------------------


def test_event_before_during_and_after_the_call(bridge: Bridge) -> None:
    # Given bob, not on a call yet
    name, parent = identity(), new_call_sid()
    key = f"identity:{name}"
    call = bridge.stack.emulator.create_call(bridge.stack.credentials.account.account_sid, status="ringing")
    child = str(call["sid"])

    # When an event arrives before the call: 404
    assert bridge.post_event(new_event_body(key)).status == 404

    # When the call rings and is answered, an event is delivered to the SDK leg
    inbound(bridge, name, child, "ringing", 1, parent)
    bridge.stack.emulator.set_call_status(child, "in-progress")
    inbound(bridge, name, child, "in-progress", 2, parent)
    during = bridge.post_event(new_event_body(key))
    assert during.status == 200
    assert during.json()["call_sid"] == child

    # When the call ends, the next event is a 404 again
    bridge.stack.emulator.set_call_status(child, "completed")
    inbound(bridge, name, child, "completed", 3, parent)
    after = bridge.post_event(new_event_body(key))
    assert after.status == 404
    assert bridge.stack.emulator.stats()["udm_requests"] == 1
