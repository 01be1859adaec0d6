"""The local HTTP front, over real HTTP: routes from template.yaml, answers from the real handlers."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests
from helpers import new_event_body

from local.front import HttpFront
from local.stack import LocalStack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def front(stack: LocalStack) -> Iterator[str]:
    server = HttpFront(stack.functions, port=0).start()
    yield server.base_url
    server.stop()


def test_signed_event_posted_over_http_is_delivered(stack: LocalStack, front: str) -> None:
    # Given a live call registered over HTTP
    call = stack.emulator.create_call(stack.credentials.account.account_sid)
    key = "identity:front-" + call["sid"][-8:]
    assert requests.put(f"{front}/calls/{key}", json={"call_sid": call["sid"]}, timeout=10).status_code == 200

    # When a signed event is POSTed to /events
    body = json.dumps(new_event_body(key))
    reply = requests.post(f"{front}/events", data=body.encode(), headers=stack.sign(body), timeout=10)

    # Then it is delivered and the answer is JSON
    assert reply.status_code == 200, reply.text
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.json()["call_sid"] == call["sid"]


def test_problem_responses_keep_their_media_type_over_http(front: str) -> None:
    reply = requests.post(f"{front}/events", data=b"{}", headers={"Content-Type": "application/json"}, timeout=10)
    assert reply.status_code == 401
    assert reply.headers["Content-Type"] == "application/problem+json"


def test_route_the_template_does_not_define_is_a_404(front: str) -> None:
    assert requests.get(f"{front}/nope", timeout=10).status_code == 404
    assert requests.patch(f"{front}/events", timeout=10).status_code == 404


def test_form_bodies_reach_the_handler_base64_encoded(stack: LocalStack, front: str) -> None:
    # Form bodies arrive base64-encoded, as API Gateway sends them; the calls API refuses the type
    reply = requests.put(f"{front}/calls/identity:x", data={"call_sid": "CA1"}, timeout=10)
    assert reply.status_code == 415


@pytest.fixture
def twilio_calls_the_front(stack: LocalStack, front: str, fresh_runtime: pytest.MonkeyPatch) -> str:
    # The emulator signs the URL it calls, as Twilio does: the bridge must rebuild that one.
    fresh_runtime.setenv("PUBLIC_BASE_URL", front)
    stack.emulator.reset()
    return f"{front}/twilio/call-status"


def test_incoming_sdk_call_registers_itself_through_signed_callbacks(
    stack: LocalStack, front: str, twilio_calls_the_front: str
) -> None:
    # Given a caller ringing bob's Voice SDK app, with the bridge as <Client statusCallback>
    placed = stack.emulator.place_inbound("bob-front", twilio_calls_the_front)

    # Then the SDK leg is registered while it rings, and an event reaches that leg once answered
    assert requests.get(f"{front}/calls/identity:bob-front", timeout=10).json()["call_sid"] == placed["child"]
    stack.emulator.answer(placed["child"])
    body = json.dumps(new_event_body("identity:bob-front"))
    delivered = requests.post(f"{front}/events", data=body.encode(), headers=stack.sign(body), timeout=10)
    assert delivered.json()["call_sid"] == placed["child"]

    # When the call ends, the registration goes
    stack.emulator.hang_up(placed["child"])
    assert requests.get(f"{front}/calls/identity:bob-front", timeout=10).status_code == 404
    assert all(record["status_code"] == 204 for record in stack.emulator.callbacks())


def test_outgoing_sdk_call_registers_the_parent_leg_through_the_dial_callback(
    stack: LocalStack, front: str, twilio_calls_the_front: str
) -> None:
    # Given alice placing a call: the TwiML App reports completion, the <Dial><Number> leg names her key
    dial_callback = f"{twilio_calls_the_front}?key=identity:alice-front&leg=parent"
    placed = stack.emulator.place_outbound("alice-front", dial_callback, app_status_callback=twilio_calls_the_front)
    stack.emulator.answer(placed["child"])

    # Then her SDK leg (the parent) is what is registered
    assert requests.get(f"{front}/calls/identity:alice-front", timeout=10).json()["call_sid"] == placed["parent"]

    # When she hangs up, both legs' completed callbacks leave nothing behind
    stack.emulator.hang_up(placed["parent"])
    assert requests.get(f"{front}/calls/identity:alice-front", timeout=10).status_code == 404
