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
