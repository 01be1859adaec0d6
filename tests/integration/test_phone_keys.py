"""Phone keys: an event for the customer's number reaches the agent on the line with them.

The emulator places the calls and sends their status callbacks as Twilio does (signed, over HTTP, to
the local front); other callbacks are signed here with twilio's RequestValidator. Every log line the
process writes meanwhile is read back: numbers are masked, and a line stays one line.
"""

from __future__ import annotations

import io
import json
import logging
import secrets
from collections.abc import Iterator
from typing import Any, cast
from urllib.parse import quote

import pytest
import requests
from helpers import Bridge, new_call_sid, new_event_body, new_id, post_callback, status_params

from bridge import bootstrap
from bridge.adapters.dynamodb.call_owners import DynamoCallOwners
from bridge.observability import logger
from bridge.settings import RegistrySettings
from local.front import HttpFront
from local.stack import LocalStack
from ops.cli import main

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def front(stack: LocalStack) -> Iterator[str]:
    server = HttpFront(stack.functions, port=0).start()
    yield server.base_url
    server.stop()


@pytest.fixture
def callback_url(stack: LocalStack, front: str, fresh_runtime: pytest.MonkeyPatch) -> str:
    # The emulator signs the URL it calls, as Twilio does: the bridge must rebuild that one.
    fresh_runtime.setenv("PUBLIC_BASE_URL", front)
    stack.emulator.reset()
    return f"{front}/twilio/call-status"


@pytest.fixture
def log_text() -> Iterator[io.StringIO]:
    """Every line the functions' Logger writes during the test, as it would reach CloudWatch."""
    handler = cast(logging.StreamHandler[io.StringIO], logger.registered_handler)
    written = io.StringIO()
    previous = handler.setStream(written)
    yield written
    handler.setStream(previous)


def name() -> str:
    return f"agent{new_id()[4:16]}"


def new_number() -> str:
    """A fictional number in E.164, as Twilio reports a PSTN party."""
    return f"+1555{secrets.randbelow(10**7):07d}"


def send(stack: LocalStack, front: str, key: str) -> requests.Response:
    body = json.dumps(new_event_body(key))
    return requests.post(f"{front}/events", data=body.encode(), headers=stack.sign(body), timeout=10)


def no_active_call(reply: requests.Response) -> bool:
    # A 404 problem `no_active_call` today; an answer with that status would say the same
    body = reply.json()
    return "no_active_call" in (body.get("code"), body.get("status"))


def registered(front: str, key: str) -> str | None:
    reply = requests.get(f"{front}/calls/{key}", timeout=10)
    return reply.json()["call_sid"] if reply.status_code == 200 else None


def phone_keys_of(stack: LocalStack, call_sid: str) -> list[str]:
    """The phone keys whose item holds `call_sid`, live or ended."""
    registry = bootstrap.registry(RegistrySettings("CallsTable"), client=stack.client("dynamodb"))
    return [
        key
        for key, state in registry.every_key()
        if key.startswith("phone:") and (call_sid in state.calls or call_sid in state.ended)
    ]


# -- a customer calls a Voice SDK user (<Dial><Client>) -------------------------------------------------


def test_an_event_for_the_callers_number_reaches_the_agent_on_that_call(
    stack: LocalStack, front: str, callback_url: str, log_text: io.StringIO
) -> None:
    # Given a customer calling bob's Voice SDK app: the <Client> leg's callbacks carry their number
    agent = name()
    placed = stack.emulator.place_inbound(agent, callback_url)
    stack.emulator.answer(placed["child"])
    caller = placed["caller"]
    assert {cb["params"]["From"] for cb in stack.emulator.callbacks()} == {caller}

    # When the CRM sends an event keyed by the caller's number
    reply = send(stack, front, f"phone:{caller}")

    # Then it reaches bob's SDK leg, as one for identity:bob does
    assert reply.status_code == 200, reply.text
    assert reply.json()["call_sid"] == placed["child"]
    assert registered(front, f"phone:{caller}") == registered(front, f"identity:{agent}") == placed["child"]

    # And the leg's messages stay bob's: his key, not the caller's number, owns the subscription
    stack.settle()
    assert DynamoCallOwners("CallsTable", stack.client("dynamodb")).owner(placed["child"]) == f"identity:{agent}"

    # When the call ends, the number has no call any more
    stack.emulator.hang_up(placed["child"])
    assert registered(front, f"phone:{caller}") is None
    late = send(stack, front, f"phone:{caller}")
    assert no_active_call(late), late.text
    assert all(record["status_code"] == 204 for record in stack.emulator.callbacks())

    # And no log line of all this shows the number, but the masked one says which key each was about
    text = log_text.getvalue()
    digits = caller.removeprefix("+")
    assert digits not in text, [line for line in text.splitlines() if digits in line]
    masked = f"phone:{caller[:5]}•••{caller[-4:]}"
    outcomes = [json.loads(line)["outcome"] for line in text.splitlines() if masked in line]
    assert {"registered", "looked_up", "unregistered", "no_active_call"} <= set(outcomes), outcomes


def test_callbacks_out_of_order_replayed_and_after_the_end_treat_the_number_like_the_identity(
    stack: LocalStack, front: str, callback_url: str
) -> None:
    # Given a call whose first callbacks arrive late, answered first, each then delivered again
    emulator = stack.emulator
    emulator.hold_callbacks(True)
    placed = emulator.place_inbound(name(), callback_url)
    emulator.answer(placed["child"])
    emulator.release_callbacks([2, 0, 1])
    emulator.hold_callbacks(False)
    key = f"phone:{placed['caller']}"
    assert registered(front, key) == placed["child"]

    # When it ends and its callbacks are replayed afterwards
    emulator.hang_up(placed["child"])
    for index in range(3):
        emulator.replay_callback(index)

    # Then the tombstone keeps the number's mapping gone, as the identity's
    assert registered(front, key) is None
    assert no_active_call(send(stack, front, key))


# -- a Voice SDK user calls a number (<Dial><Number> from a TwiML App) -------------------------------------


def test_an_event_for_the_dialled_number_reaches_the_sdk_leg_that_dialled_it(
    stack: LocalStack, front: str, callback_url: str
) -> None:
    # Given alice calling a customer: the <Number> leg reports for its parent, her SDK leg
    agent = name()
    placed = stack.emulator.place_outbound(
        agent, f"{callback_url}?key=identity:{agent}&leg=parent", app_status_callback=callback_url
    )
    stack.emulator.answer(placed["child"])
    dialled = placed["to"]

    # When the helpdesk sends an event keyed by the dialled number
    reply = send(stack, front, f"phone:{dialled}")

    # Then it reaches alice's SDK leg (the parent), not the customer's leg
    assert reply.status_code == 200, reply.text
    assert reply.json()["call_sid"] == placed["parent"]

    # When she hangs up, the number's mapping goes with hers
    stack.emulator.hang_up(placed["parent"])
    assert registered(front, f"phone:{dialled}") is None
    assert registered(front, f"identity:{agent}") is None
    assert no_active_call(send(stack, front, f"phone:{dialled}"))


# -- parties that are not phone numbers ----------------------------------------------------------------------


@pytest.mark.parametrize("caller", ["anonymous", "restricted", "+266696687", "client:carol", "sip:carol@example.com"])
def test_a_withheld_number_a_client_or_a_sip_caller_registers_no_phone_key(
    stack: LocalStack, front: str, callback_url: str, caller: str
) -> None:
    # Given a call from someone with no number to key it by
    agent = name()
    placed = stack.emulator.place_inbound(agent, callback_url, caller=caller)
    stack.emulator.answer(placed["child"])

    # Then the agent's leg is registered under the identity alone
    assert registered(front, f"identity:{agent}") == placed["child"]
    assert phone_keys_of(stack, placed["child"]) == []


def test_a_callback_from_anonymous_registers_no_phone_key(bridge: Bridge) -> None:
    # Given a callback exactly as Twilio sends it for a caller who withheld their number
    agent, child = name(), new_call_sid()
    params = status_params(child, "ringing", to=f"client:{agent}", from_="anonymous", parent=new_call_sid(), seq=1)

    # When it arrives
    assert post_callback(bridge, params).status == 204

    # Then only identity:agent holds the leg
    assert bridge.calls("GET", f"identity:{agent}").json()["call_sid"] == child
    assert phone_keys_of(bridge.stack, child) == []


def test_a_caller_id_override_registers_the_number_twilio_reports(bridge: Bridge) -> None:
    # <Dial callerId="+1..."><Client>: Twilio reports the callerId as From on the SDK leg
    agent, child = name(), new_call_sid()
    shown = new_number()
    params = status_params(child, "ringing", to=f"client:{agent}", from_=shown, parent=new_call_sid(), seq=1)
    assert post_callback(bridge, params).status == 204
    assert phone_keys_of(bridge.stack, child) == [f"phone:{shown}"]


# -- log lines --------------------------------------------------------------------------------------------------


def test_a_key_with_unicode_line_separators_stays_on_one_log_line(bridge: Bridge, log_text: io.StringIO) -> None:
    # Given keys holding U+2028 and U+2029, which JSON leaves raw and line-splitting tools break on
    keys = [f"identity:{name()}\u2028x", f"identity:{name()}\u2029y"]
    call_sid = bridge.stack.emulator.create_call(bridge.stack.credentials.account.account_sid)["sid"]

    # When they are registered and looked up (percent-encoded in the path), one log line each
    for key in keys:
        assert bridge.calls("PUT", quote(key, safe=""), {"call_sid": call_sid}).status == 200
        assert bridge.calls("GET", quote(key, safe="")).status == 200

    # Then each record is one line, whichever way the lines are split, and reads back the same key
    # (the streams' functions may log about these keys meanwhile: they count too)
    text = log_text.getvalue()
    records: list[dict[str, Any]] = [json.loads(line) for line in text.split("\n") if line]
    assert len(text.splitlines()) == len(records)
    calls = [r["recipient"] for r in records if r.get("outcome") in ("registered", "looked_up")]
    assert calls == [keys[0], keys[0], keys[1], keys[1]]


# -- the operations CLI --------------------------------------------------------------------------------------------


def test_calls_list_masks_phone_keys_and_calls_get_takes_the_full_one(bridge: Bridge) -> None:
    # Given a caller's number registered by a callback
    agent, child = name(), new_call_sid()
    number = new_number()
    params = status_params(child, "ringing", to=f"client:{agent}", from_=number, parent=new_call_sid(), seq=1)
    assert post_callback(bridge, params).status == 204

    # When an operator lists who is on a call
    code, listed = operate(bridge.stack, "list")

    # Then the number is masked there, beside the agent's key in full
    assert code == 0
    assert number.removeprefix("+") not in listed
    rows = {row["key"]: row["call_sid"] for row in json.loads(listed)}
    assert rows[f"phone:{number[:5]}•••{number[-4:]}"] == child
    assert rows[f"identity:{agent}"] == child

    # And the full key, which the operator knows, reads that call
    code, found = operate(bridge.stack, "get", f"phone:{number}")
    assert (code, json.loads(found)["call_sid"]) == (0, child)


def operate(stack: LocalStack, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(["--local", "--endpoint-url", stack.aws_endpoint, "calls", *args], out=out)
    return code, out.getvalue()
