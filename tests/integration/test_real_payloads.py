"""Published payloads of real senders (tests/fixtures/, with their sources and licenses), signed as
those senders sign them, through the real ingest handler."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from helpers import Bridge, body_key

from local.senders import github_headers, stripe_headers

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
# The sender of every octokit example.
CODERTOCAT = "identity:Codertocat"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def secret(bridge: Bridge, source: str) -> str:
    return bridge.stack.credentials.source_secrets[source]


def test_github_ping_is_acknowledged_and_posts_nothing(bridge: Bridge) -> None:
    # Given Codertocat on a call, and the ping GitHub sends when the webhook is created
    bridge.live_call(CODERTOCAT)
    raw = fixture("github/ping.json")
    delivery = str(uuid.uuid4())

    # When it arrives
    reply = bridge.post_source(
        "github", raw, github_headers(raw, secret(bridge, "github"), event="ping", delivery=delivery)
    )

    # Then it is a 2xx that says it was ignored, and nothing reached Twilio
    assert reply.status == 200, reply.body
    assert reply.json() == {
        "status": "ignored",
        "reason": "ping",
        "event_id": delivery,
        "type": "ping",
        "detail": "GitHub's ping, sent when a webhook is created or tested",
        "source": "github",
    }
    assert bridge.stack.emulator.stats()["udm_requests"] == 0


def test_stripe_customer_created_with_empty_metadata_is_ignored(bridge: Bridge) -> None:
    # Given Stripe's own customer.created fixture: metadata is {}, so it names no agent
    raw = fixture("stripe/customer.created.json")

    # When Stripe posts it
    reply = bridge.post_source("stripe", raw, stripe_headers(raw, secret(bridge, "stripe")))

    # Then it is acknowledged (Stripe stops retrying) and nothing is posted
    assert reply.status == 200, reply.body
    body: dict[str, Any] = reply.json()
    assert (body["status"], body["reason"], body["type"]) == ("ignored", "no_recipient", "customer.created")
    assert bridge.stack.emulator.stats()["udm_requests"] == 0


@pytest.mark.parametrize("event", ["pull_request", "issues", "issue_comment", "push", "workflow_run"])
def test_octokit_examples_reach_the_senders_call_once(bridge: Bridge, event: str) -> None:
    # Given Codertocat on a call
    _, call_sid = bridge.live_call(CODERTOCAT)
    # The signed body is a GitHub event's identity: the published example, from an app installation of
    # this test's own, is a delivery no other test has sent
    raw = json.dumps({**json.loads(fixture(f"github/{event}.json")), "installation": {"id": uuid.uuid4().int % 10**8}})
    delivery = str(uuid.uuid4())
    headers = github_headers(raw, secret(bridge, "github"), event=event, delivery=delivery)

    # When GitHub delivers the example, and redelivers it
    first = bridge.post_source("github", raw, headers)
    again = bridge.post_source("github", raw, headers)

    # Then it reached Codertocat's call exactly once, with the example's own data
    assert first.status == 200, first.body
    assert first.json()["status"] == "delivered"
    assert again.headers.get("Idempotent-Replayed") == "true"
    [message] = bridge.messages_for(body_key("github", raw))
    assert message["call_sid"] == call_sid
    content = json.loads(message["content"])
    payload = json.loads(raw)
    assert content["type"] == event
    assert content["data"]["sender"] == "Codertocat"
    assert content["data"]["repository"] == payload["repository"]["full_name"]
    assert content["data"]["action"] == payload.get("action")
