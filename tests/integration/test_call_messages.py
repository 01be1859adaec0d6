"""Messages from the call: subscriptions per SDK leg, POST /twilio/messages, and the forwarder.

Real handlers over loopback: moto's DynamoDB, SQS and Secrets Manager, the Twilio emulator (its
subscriptions and the SDK user's call.sendMessage), and a receiver that verifies every forwarded
webhook with the standardwebhooks package.
"""

from __future__ import annotations

import io
import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import (
    MESSAGES_HOST,
    Bridge,
    ledger_entry,
    message_params,
    new_call_sid,
    new_message_sid,
    owned_call,
    post_message,
    send_message,
    wait_for,
)
from standardwebhooks.webhooks import Webhook
from twilio.request_validator import RequestValidator

from bridge import bootstrap
from bridge.adapters.dynamodb.message_claims import DynamoMessageClaims
from bridge.domain.call_message import Claim
from local.front import HttpFront
from local.stack import FORWARD_SECRET_NAME, LocalStack
from ops.cli import main

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def receiver(stack: LocalStack) -> Iterator[Any]:
    stack.receiver.reset()
    yield stack.receiver
    if stack.receiver._server is None:
        stack.receiver.start()
    stack.receiver.reset()


@pytest.fixture(scope="module")
def front(stack: LocalStack) -> Iterator[HttpFront]:
    served = HttpFront(stack.functions, port=0).start()
    yield served
    served.stop()


def verified(stack: LocalStack, delivery: Any) -> Any:
    """What any Standard Webhooks library makes of a forwarded request."""
    return Webhook(stack.forward_secret).verify(delivery.body, delivery.headers)


# -- receive ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("as_json", [False, True], ids=["form", "json"])
def test_a_verified_message_is_forwarded_as_a_standard_webhook_with_the_documented_body(
    bridge: Bridge, receiver: Any, as_json: bool
) -> None:
    # Given alice's SDK leg, owned by her key
    key, call_sid = owned_call(bridge.stack, "identity:alice")
    sid = new_message_sid()

    # When Twilio delivers her app's message
    assert post_message(bridge, message_params(call_sid, sid), as_json=as_json) == 204

    # Then the receiver gets one webhook that verifies, with the message SID as webhook-id
    [delivery] = wait_for(lambda: receiver.for_message(sid))
    payload = verified(bridge.stack, delivery)
    assert delivery.headers["webhook-id"] == sid
    assert payload["type"] == "call.message"
    assert payload["from"] == key
    assert payload["call_sid"] == call_sid
    assert payload["data"] == {"verified": True}
    assert payload["timestamp"].endswith("Z")
    assert set(payload) == {"type", "timestamp", "from", "call_sid", "data"}


def test_content_that_is_not_json_is_forwarded_as_a_string(bridge: Bridge, receiver: Any) -> None:
    _, call_sid = owned_call(bridge.stack)
    sid = new_message_sid()
    assert post_message(bridge, message_params(call_sid, sid, content="ticket closed")) == 204
    [delivery] = wait_for(lambda: receiver.for_message(sid))
    assert verified(bridge.stack, delivery)["data"] == "ticket closed"


@pytest.mark.parametrize(
    "forgery",
    ["wrong token", "no signature", "tampered body", "json without bodySHA256"],
)
def test_a_forged_message_gets_403_and_nothing_is_forwarded(bridge: Bridge, receiver: Any, forgery: str) -> None:
    _, call_sid = owned_call(bridge.stack)
    sid = new_message_sid()
    params = message_params(call_sid, sid)
    if forgery == "wrong token":
        status = post_message(bridge, params, token=secrets.token_hex(16))
    elif forgery == "no signature":
        status = post_message(bridge, params, signature="")
    elif forgery == "tampered body":
        good = RequestValidator(bridge.stack.credentials.account.auth_token).compute_signature(
            f"https://{MESSAGES_HOST}/twilio/messages", params
        )
        status = post_message(bridge, {**params, "Content": '{"verified":false}'}, signature=good)
    else:
        status = post_message(bridge, params, as_json=True, body_hash=False)

    assert status == 403
    bridge.stack.settle()
    time.sleep(0.5)
    assert receiver.for_message(sid) == []


def test_a_message_on_a_call_nobody_owns_is_acknowledged_and_dropped(bridge: Bridge, receiver: Any) -> None:
    sid = new_message_sid()
    assert post_message(bridge, message_params(new_call_sid(), sid)) == 204
    time.sleep(0.5)
    assert receiver.for_message(sid) == []


def test_a_malformed_message_is_a_400_problem(bridge: Bridge) -> None:
    _, call_sid = owned_call(bridge.stack)
    assert post_message(bridge, message_params(call_sid, "not a sid")) == 400
    assert post_message(bridge, message_params("CA123", new_message_sid())) == 400


@pytest.mark.parametrize("as_json", [False, True], ids=["form", "json"])
def test_a_message_without_content_is_a_400_naming_it_and_nothing_is_forwarded(
    bridge: Bridge, receiver: Any, as_json: bool
) -> None:
    _, call_sid = owned_call(bridge.stack)
    sid = new_message_sid()
    params = {name: value for name, value in message_params(call_sid, sid).items() if name != "Content"}
    reply = send_message(bridge, params, as_json=as_json)
    assert reply.status == 400
    assert "Content" in reply.json()["detail"]
    bridge.stack.settle()
    assert receiver.for_message(sid) == []


# -- once per Sid -----------------------------------------------------------------------------------


def test_a_message_sent_as_a_form_and_replayed_as_json_is_forwarded_once(bridge: Bridge, receiver: Any) -> None:
    _, call_sid = owned_call(bridge.stack)
    sid = new_message_sid()
    params = message_params(call_sid, sid)
    assert [post_message(bridge, params), post_message(bridge, params, as_json=True)] == [204, 204]
    bridge.stack.settle()
    assert len(receiver.for_message(sid)) == 1


def test_when_the_queue_fails_the_sid_is_released_and_twilios_retry_is_forwarded_once(
    bridge: Bridge, receiver: Any, fresh_runtime: pytest.MonkeyPatch
) -> None:
    # Given the message queue unreachable (a queue that does not exist)
    _, call_sid = owned_call(bridge.stack)
    sid = new_message_sid()
    params = message_params(call_sid, sid)
    queue_url = bridge.stack.queue_url("MessagesQueue")
    fresh_runtime.setenv("MESSAGES_QUEUE_URL", queue_url.rsplit("/", 1)[0] + "/NoSuchQueue")
    bootstrap.reset()

    # When the message arrives, it is a 503 to retry
    failed = send_message(bridge, params)
    assert failed.status == 503, failed.body
    assert failed.headers.get("Retry-After") == "1"

    # Then once the queue is back, the retry is queued and forwarded, once
    fresh_runtime.setenv("MESSAGES_QUEUE_URL", queue_url)
    bootstrap.reset()
    assert [post_message(bridge, params) for _ in range(2)] == [204, 204]
    [delivery] = wait_for(lambda: receiver.for_message(sid))
    assert verified(bridge.stack, delivery)["call_sid"] == call_sid
    bridge.stack.settle()
    assert len(receiver.for_message(sid)) == 1


def test_a_message_another_invocation_is_queueing_is_a_409_to_retry(bridge: Bridge, receiver: Any) -> None:
    # Given the Sid claimed by an invocation still running (its lease ends in a minute)
    _, call_sid = owned_call(bridge.stack)
    sid = new_message_sid()
    claims = DynamoMessageClaims("IdempotencyTable", bridge.stack.client("dynamodb"), 3600)
    assert claims.claim(sid, "running", time.time() + 60) is Claim.CLAIMED

    # When the same message arrives meanwhile
    reply = send_message(bridge, message_params(call_sid, sid))

    # Then it is told to retry, and nothing is queued by it
    assert reply.status == 409, reply.body
    assert reply.json()["code"] == "event_in_progress"
    assert reply.headers.get("Retry-After") == "1"
    bridge.stack.settle()
    assert receiver.for_message(sid) == []


def test_an_oversized_message_is_a_413(bridge: Bridge, receiver: Any) -> None:
    _, call_sid = owned_call(bridge.stack)
    sid = new_message_sid()
    assert post_message(bridge, message_params(call_sid, sid, content=json.dumps({"x": "y" * 70_000}))) == 413


# -- forward ----------------------------------------------------------------------------------------


def test_a_receiver_that_answers_503_then_200_gets_it_twice_with_the_same_webhook_id(
    bridge: Bridge, receiver: Any
) -> None:
    _, call_sid = owned_call(bridge.stack)
    sid = new_message_sid()
    receiver.answer([503], retry_after=0)

    assert post_message(bridge, message_params(call_sid, sid)) == 204

    deliveries = wait_for(lambda: len(receiver.for_message(sid)) >= 2 and receiver.for_message(sid))
    assert [d.status for d in deliveries] == [503, 204]
    assert {d.headers["webhook-id"] for d in deliveries} == {sid}
    assert all(verified(bridge.stack, d) for d in deliveries)
    bridge.stack.settle()
    assert ledger_entry(bridge.stack, f"call:{sid}") is None


def test_a_receiver_that_is_down_ends_in_the_ledger_and_replay_delivers_it(
    bridge: Bridge, receiver: Any, fresh_runtime: pytest.MonkeyPatch
) -> None:
    fresh_runtime.setenv("FORWARD_MAX_ATTEMPTS", "2")
    bootstrap.reset()
    key, call_sid = owned_call(bridge.stack)
    sid = new_message_sid()
    url = receiver.url
    receiver.down()

    assert post_message(bridge, message_params(call_sid, sid)) == 204

    entry = wait_for(lambda: ledger_entry(bridge.stack, f"call:{sid}"), timeout=20)
    assert entry is not None
    assert entry["reason"] == "forward_failed"
    assert entry["recipient"] == key
    assert "connection" in entry["detail"]

    # The CLI lists it, and once the receiver is back, replays it with the same webhook-id
    receiver.start()
    code, failed = cli(bridge.stack, url, "events", "failed", "--since", "1h")
    assert code == 0
    assert f"call:{sid}" in {row["event_key"] for row in failed}
    code, replayed = cli(bridge.stack, url, "events", "replay", f"call:{sid}")
    assert code == 0
    assert replayed["status"] == "forwarded"
    [delivery] = receiver.for_message(sid)
    assert verified(bridge.stack, delivery)["from"] == key
    assert ledger_entry(bridge.stack, f"call:{sid}")["replay_message_sid"] == sid  # type: ignore[index]


def cli(stack: LocalStack, forward_url: str, *args: str) -> tuple[int, Any]:
    out = io.StringIO()
    code = main(
        [
            "--local",
            "--endpoint-url",
            stack.aws_endpoint,
            "--forward-url",
            forward_url,
            "--forward-secret-id",
            FORWARD_SECRET_NAME,
            *args,
        ],
        out=out,
    )
    return code, json.loads(out.getvalue()) if out.getvalue().strip() else None


# -- subscribe, end to end through the emulator ------------------------------------------------------


def subscriptions_of(stack: LocalStack, call_sid: str) -> list[dict[str, Any]]:
    return [s for s in stack.emulator.subscriptions.every() if s["call_sid"] == call_sid]


def through_front(front: HttpFront, monkeypatch: pytest.MonkeyPatch) -> str:
    """Twilio (the emulator) calls the front, so signed URLs and the Callback are the front's."""
    monkeypatch.setenv("PUBLIC_BASE_URL", front.base_url)
    bootstrap.reset()
    return f"{front.base_url}/twilio/call-status"


def test_one_subscription_per_registered_sdk_leg_even_with_replayed_callbacks(
    bridge: Bridge, front: HttpFront, fresh_runtime: pytest.MonkeyPatch, receiver: Any
) -> None:
    callback = through_front(front, fresh_runtime)
    name = f"agent{secrets.token_hex(4)}"
    emulator = bridge.stack.emulator

    # Given a call to the agent's app, answered, with every callback delivered twice
    placed = emulator.place_inbound(name, callback)
    emulator.answer(placed["child"])
    for index in range(len(emulator.callbacks())):
        emulator.replay_callback(index)
    bridge.stack.settle()

    # Then the SDK leg has exactly one subscription, to the bridge's message route; the caller's leg none
    [subscription] = wait_for(lambda: subscriptions_of(bridge.stack, placed["child"]))
    bridge.stack.settle()
    assert len(subscriptions_of(bridge.stack, placed["child"])) == 1
    assert subscriptions_of(bridge.stack, placed["parent"]) == []
    assert subscription["callback"] == f"{front.base_url}/twilio/messages"
    assert subscription["idempotency_key"].endswith(placed["child"])

    # And what the agent's app sends reaches the "CRM" as a verified webhook from the agent's key
    sent = emulator.subscriptions.send(emulator, placed["child"], {"verified": True}, "application/json", "json")
    assert [d["status_code"] for d in sent["deliveries"]] == [204]
    [delivery] = wait_for(lambda: receiver.for_message(sent["sid"]))
    payload = verified(bridge.stack, delivery)
    assert payload["from"] == f"identity:{name}"
    assert payload["call_sid"] == placed["child"]
    assert payload["data"] == {"verified": True}


def test_callbacks_out_of_order_and_late_make_no_second_subscription(
    bridge: Bridge, front: HttpFront, fresh_runtime: pytest.MonkeyPatch
) -> None:
    callback = through_front(front, fresh_runtime)
    emulator = bridge.stack.emulator
    emulator.hold_callbacks(True)
    placed = emulator.place_inbound(f"agent{secrets.token_hex(4)}", callback)
    emulator.answer(placed["child"])

    # answered first, then ringing and initiated late, then answered again
    emulator.release_callbacks([2, 1, 0])
    emulator.hold_callbacks(False)
    emulator.replay_callback(2)
    bridge.stack.settle()

    assert wait_for(lambda: subscriptions_of(bridge.stack, placed["child"]))
    bridge.stack.settle()
    assert len(subscriptions_of(bridge.stack, placed["child"])) == 1


def test_without_forward_url_no_subscription_is_created(
    bridge: Bridge, front: HttpFront, fresh_runtime: pytest.MonkeyPatch
) -> None:
    fresh_runtime.setenv("FORWARD_URL", "")
    callback = through_front(front, fresh_runtime)
    name = f"agent{secrets.token_hex(4)}"
    placed = bridge.stack.emulator.place_inbound(name, callback)
    bridge.stack.emulator.answer(placed["child"])
    # The leg is registered as usual; only the subscription is left out
    assert bridge.calls("GET", f"identity:{name}").json()["call_sid"] == placed["child"]
    bridge.stack.settle()
    time.sleep(0.5)
    bridge.stack.settle()
    assert bridge.stack.emulator.subscriptions.every() == []
