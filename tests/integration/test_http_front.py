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


# -- the front behaves like API Gateway under odd requests (issue 11, finding 10) -------------------


def test_repeated_headers_are_joined_with_commas_and_values_read_as_utf8() -> None:
    from http.client import parse_headers
    from io import BytesIO

    from local.front import request_headers

    # Given a request head with a repeated header and a UTF-8 value, parsed as http.server parses it
    raw = b"X-Tag: one\r\nX-Tag: two\r\nX-Name: Zo\xc3\xab\r\nX-Bad: \xff\r\n\r\n"
    message = parse_headers(BytesIO(raw))

    # When the front turns it into the event's headers
    headers = request_headers(message)

    # Then the repeats are joined, UTF-8 is read as UTF-8, and other bytes become U+FFFD
    assert headers["x-tag"] == "one,two"
    assert headers["x-name"] == "Zoë"
    assert headers["x-bad"] == "\ufffd"


def test_repeated_signature_headers_reach_the_handler_joined(stack: LocalStack, front: str) -> None:
    import http.client
    from urllib.parse import urlsplit

    # Given a signed event whose Content-Type is sent twice (joined, it is no longer application/json)
    body = json.dumps(new_event_body("identity:nobody"))
    signed = stack.sign(body)
    address = urlsplit(front)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=10)
    connection.putrequest("POST", "/events")
    for name, value in signed.items():
        connection.putheader(name, value)
    connection.putheader("content-type", "text/plain")
    connection.putheader("content-length", str(len(body)))
    connection.endheaders(body.encode())

    # Then the handler saw both values, not the last one
    reply = connection.getresponse()
    assert reply.status == 415
    assert "application/json,text/plain" in json.loads(reply.read())["detail"]


def test_fifty_connections_queue_while_the_front_is_busy_instead_of_being_refused(stack: LocalStack) -> None:
    import socket

    # Given a front that is not accepting yet (as when its threads are all busy)
    server = HttpFront(stack.functions, port=0)
    host, port = server.base_url.removeprefix("http://").split(":")
    connections: list[socket.socket] = []
    try:
        # When 50 clients connect at once
        for _ in range(50):
            connections.append(socket.create_connection((host, int(port)), timeout=2))
    finally:
        server.start()  # also so that stop() returns
    try:
        # Then every connection was queued, and each is served once the front runs
        for connection in connections:
            connection.sendall(b"GET /calls/identity:nobody HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        for connection in connections:
            assert connection.recv(64).startswith(b"HTTP/1.1 404")
    finally:
        for connection in connections:
            connection.close()
        server.stop()


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "FROB"])
def test_methods_without_a_route_get_a_json_answer_not_html(front: str, method: str) -> None:
    reply = requests.request(method, f"{front}/events", timeout=10)
    assert reply.status_code == 404
    assert reply.headers["Content-Type"] == "application/json"
    assert "message" in reply.json()
