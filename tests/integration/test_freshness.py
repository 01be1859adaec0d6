"""Freshness: an event reaches only a call that could be about it.

A call qualifies when it was live when the event happened, or started within the event's hold
window after it (plus CLOCK_SKEW_SECONDS, 30). An event too old for its recipient's call is
`stale`: a 2xx, nothing at Twilio, and a ledger entry an operator can replay deliberately.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from typing import Any

import pytest
from helpers import EVENTS, Bridge, body_key, ledger_entry, new_event_body, new_id, rfc3339

from bridge import bootstrap
from bridge.adapters.dynamodb.first_seen import DynamoFirstSeen
from bridge.settings import RegistrySettings
from local.senders import github_headers
from ops.cli import main

pytestmark = pytest.mark.integration

HOUR = 3600


def call_started(bridge: Bridge, seconds_ago: float, key: str | None = None) -> tuple[str, str]:
    """A live call (the emulator has it) that its status callbacks said started `seconds_ago`."""
    key = key or f"identity:{new_id()}"
    call = bridge.stack.emulator.create_call(bridge.stack.credentials.account.account_sid, status="in-progress")
    registry = bootstrap.registry(RegistrySettings("CallsTable"), client=bridge.stack.client("dynamodb"))
    sid = str(call["sid"])
    change = registry.started(key, sid, ttl_seconds=4 * HOUR, started=time.time() - seconds_ago, leg=sid, seq=None)
    assert change.active == sid
    return key, sid


def test_an_event_from_two_hours_ago_never_reaches_a_call_that_started_a_minute_ago(bridge: Bridge) -> None:
    # Given a recipient whose call started a minute ago, and an event from two hours ago (a retry)
    key, _ = call_started(bridge, 60)
    event_id = new_id()
    body = new_event_body(key, timestamp=rfc3339(time.time() - 2 * HOUR))

    # When it arrives now
    reply = bridge.post_event(body, event_id=event_id)

    # Then it is answered 2xx stale, nothing reaches the call, and the ledger has it
    assert reply.status == 200, reply.body
    assert reply.json()["status"] == "stale"
    assert (reply.json()["event_id"], reply.json()["recipient"]) == (event_id, key)
    assert bridge.messages_for(event_id) == []
    entry = ledger_entry(bridge.stack, event_id)
    assert entry is not None
    assert (entry["reason"], entry["recipient"]) == ("stale", key)
    assert json.loads(entry["content"])["data"] == body["data"]

    # And the sender's retries hear the same answer: no retry can change it
    again = bridge.post_event(body, event_id=event_id)
    assert (again.status, again.json()["status"], again.headers.get("Idempotent-Replayed")) == (200, "stale", "true")


def test_an_event_from_five_seconds_ago_reaches_that_call(bridge: Bridge) -> None:
    key, call_sid = call_started(bridge, 60)
    event_id = new_id()
    reply = bridge.post_event(new_event_body(key, timestamp=rfc3339(time.time() - 5)), event_id=event_id)
    assert reply.status == 200, reply.body
    assert reply.json()["call_sid"] == call_sid
    assert len(bridge.messages_for(event_id)) == 1


def test_an_event_that_happened_while_the_call_was_live_reaches_it_however_late(bridge: Bridge) -> None:
    # Given a call live for three hours, and an event that happened two hours ago, during it
    key, call_sid = call_started(bridge, 3 * HOUR)
    event_id = new_id()

    # When it arrives only now
    reply = bridge.post_event(new_event_body(key, timestamp=rfc3339(time.time() - 2 * HOUR)), event_id=event_id)

    # Then it still reaches that call
    assert reply.status == 200, reply.body
    assert reply.json()["status"] == "delivered"
    assert [m["call_sid"] for m in bridge.messages_for(event_id)] == [call_sid]


def test_an_event_may_reach_a_call_that_starts_within_its_hold_window(bridge: Bridge) -> None:
    # Given an event from 100 s ago that may wait 300 s, and a call that started 10 s ago
    key, call_sid = call_started(bridge, 10)
    event_id = new_id()
    body = new_event_body(key, timestamp=rfc3339(time.time() - 100), hold_seconds=300)

    # Then it reaches the call: the call started within the event's hold window
    reply = bridge.post_event(body, event_id=event_id)
    assert reply.status == 200, reply.body
    assert reply.json()["call_sid"] == call_sid


def test_an_old_event_for_a_recipient_without_a_call_is_stale_not_parked(bridge: Bridge) -> None:
    # Given an event whose hold window closed an hour ago, and no call for its recipient
    event_id = new_id()
    body = new_event_body(f"identity:{new_id()}", timestamp=rfc3339(time.time() - 2 * HOUR), hold_seconds=300)

    # When it arrives: no call that starts from now on could ever be about it
    reply = bridge.post_event(body, event_id=event_id)

    # Then it is stale, not parked for whatever call comes next
    assert reply.status == 200, reply.body
    assert reply.json()["status"] == "stale"
    entry = ledger_entry(bridge.stack, event_id)
    assert entry is not None
    assert entry["reason"] == "stale"


def test_a_parked_event_waits_no_longer_than_its_window_allows(bridge: Bridge) -> None:
    # Given an event from 250 s ago that may wait 300 s, and no call yet
    body = new_event_body(f"identity:{new_id()}", timestamp=rfc3339(time.time() - 250), hold_seconds=300)

    # When it parks
    reply = bridge.post_event(body)

    # Then it expires when the window closes (about 80 s from now: 50 s of hold left, plus the skew)
    assert reply.status == 202, reply.body
    assert reply.json()["expires_at"] <= time.time() + 81


def test_a_future_timestamp_does_not_hold_the_window_open(bridge: Bridge) -> None:
    # Given an event stamped a day ahead, for a recipient without a call
    reply = bridge.post_event(new_event_body(f"identity:{new_id()}", timestamp=rfc3339(time.time() + 24 * HOUR)))

    # Then it is judged as happening now: no call yet, a 404 the sender may retry shortly
    assert reply.status == 404, reply.body


def test_a_github_redelivery_hours_after_the_first_attempt_is_stale(bridge: Bridge) -> None:
    # Given a GitHub delivery (GitHub sends no event time) first seen two hours ago, when its sender had no call
    name = f"user-{new_id()[4:14]}"
    delivery = str(uuid.uuid4())
    payload: dict[str, Any] = json.loads((EVENTS / "body-github-pull-request.json").read_text())
    payload["sender"]["login"] = name
    raw = json.dumps(payload)
    two_hours_ago = time.time() - 2 * HOUR
    sightings = DynamoFirstSeen(
        "IdempotencyTable", bridge.stack.client("dynamodb"), 48 * HOUR, clock=lambda: two_hours_ago
    )
    # GitHub signs no timestamp: the signed body, not the unsigned delivery ID, is the event
    assert sightings.first_seen(body_key("github", raw)) == two_hours_ago

    # And the sender now on a call that started a minute ago
    call_started(bridge, 60, f"identity:{name}")

    # When the delivery is redelivered now
    secret = bridge.stack.credentials.source_secrets["github"]
    reply = bridge.post_source("github", raw, github_headers(raw, secret, delivery=delivery))

    # Then its event time is when the bridge first saw it: stale, and nothing posted
    assert reply.status == 200, reply.body
    assert reply.json()["status"] == "stale"
    assert bridge.messages_for(body_key("github", raw)) == []


def test_an_operator_can_replay_a_stale_event_deliberately(bridge: Bridge, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a stale event in the ledger
    key, call_sid = call_started(bridge, 60)
    event_id = new_id()
    stale = bridge.post_event(new_event_body(key, timestamp=rfc3339(time.time() - 2 * HOUR)), event_id=event_id)
    assert stale.json()["status"] == "stale"

    # When the operator replays it to that call on purpose
    capsys.readouterr()
    out = io.StringIO()
    code = main(
        [
            "--local",
            "--endpoint-url",
            bridge.stack.aws_endpoint,
            "--twilio-api-base-url",
            bridge.stack.emulator.base_url,
            "events",
            "replay",
            event_id,
            "--to",
            key,
        ],
        out=out,
    )

    # Then it is delivered, once, with the original event ID as IdempotencyKey
    assert code == 0, out.getvalue()
    assert json.loads(out.getvalue())["status"] == "delivered"
    assert [m["call_sid"] for m in bridge.messages_for(event_id)] == [call_sid]
