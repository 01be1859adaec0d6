"""Only signed parts decide an event's ID, type, recipient, time and deduplication (issue 19), over
the real ingest handler: each test replays what the second attack round sent."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from helpers import Bridge, body_key, new_id
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local.senders import github_headers, shopify_headers, twilio_signature

pytestmark = pytest.mark.integration

BASE = "https://127.0.0.1:3000/events"


def secret(bridge: Bridge, source: str) -> str:
    return bridge.stack.credentials.source_secrets[source]


def shopify(bridge: Bridge, raw: bytes, topic: str) -> dict[str, str]:
    return shopify_headers(raw, secret(bridge, "shopify"), topic=topic)


# -- unsigned type headers -------------------------------------------------------------------------


def test_a_github_body_first_sent_as_an_ignored_type_replays_that_answer_under_another_type(bridge: Bridge) -> None:
    # Given a signed pull request body whose sender is on a call, first sent with X-GitHub-Event: star
    login = f"octo-{new_id()[4:12]}"
    bridge.live_call(f"identity:{login}")
    raw = json.dumps({"action": "opened", "sender": {"login": login}, "repository": {"full_name": "o/r"}})
    first = bridge.post_source("github", raw, github_headers(raw, secret(bridge, "github"), event="star"))
    assert (first.status, first.json()["reason"]) == (200, "type_not_forwarded")

    # When the same signed body comes again as pull_request
    again = github_headers(raw, secret(bridge, "github"), event="pull_request")
    reply = bridge.post_source("github", raw, again)

    # Then it is the same event: the first answer, and nothing reaches the call
    assert (reply.status, reply.json()["status"]) == (200, "ignored")
    assert reply.headers.get("Idempotent-Replayed") == "true"
    assert bridge.messages_for(body_key("github", raw)) == []


def test_a_shopify_body_replays_its_first_answer_whatever_topic_header_comes_with_it(bridge: Bridge) -> None:
    customer = uuid.uuid4().int % 10**12
    bridge.live_call(f"shopify-customer:{customer}")
    raw = json.dumps({"id": customer, "email": "a@example.com", "orders_count": 3}).encode()
    first = bridge.post_source("shopify", raw, shopify(bridge, raw, "products/update"))
    assert first.json()["reason"] == "type_not_forwarded"
    reply = bridge.post_source("shopify", raw, shopify(bridge, raw, "customers/update"))
    assert reply.json()["status"] == "ignored"
    assert bridge.messages_for(body_key("shopify", raw)) == []


# -- unsigned event times --------------------------------------------------------------------------


def test_shopifys_unsigned_trigger_time_decides_nothing(bridge: Bridge) -> None:
    # Given a customer's body first seen while they were on no call
    customer = uuid.uuid4().int % 10**12
    raw = json.dumps({"id": customer, "email": "b@example.com", "orders_count": 1}).encode()
    first = bridge.post_source("shopify", raw, shopify(bridge, raw, "customers/update"))
    assert first.json()["status"] == "no_active_call"

    # When a call starts, and the same body is resent with a fresh (or garbage) trigger time
    bridge.live_call(f"shopify-customer:{customer}")
    for triggered_at in (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "garbage"):
        headers = {**shopify(bridge, raw, "customers/update")}
        headers["x-shopify-triggered-at"] = triggered_at
        reply = bridge.post_source("shopify", raw, headers)
        # Then it answers as it first did: no header can make it an event of the new call
        assert reply.json()["status"] == "no_active_call"
    assert bridge.messages_for(body_key("shopify", raw)) == []


# -- two spellings of one signed form --------------------------------------------------------------


def reservation(worker: str) -> dict[str, str]:
    return {
        "AccountSid": "AC" + "0" * 32,
        "Sid": "EV" + uuid.uuid4().hex,
        "EventType": "reservation.created",
        "EventDescription": f"Reservation created for worker {worker}",
        "Timestamp": str(int(time.time())),
        "TaskSid": "WT" + uuid.uuid4().hex,
        "ReservationSid": "WR" + uuid.uuid4().hex,
        "WorkerName": worker,
        "TaskQueueName": "Support Queue",
    }


def post_form(bridge: Bridge, body: str, signed: dict[str, str]) -> Any:
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "x-twilio-signature": twilio_signature(secret(bridge, "twilio"), f"{BASE}/twilio", signed),
    }
    return bridge.post_source("twilio", body, headers)


def spell(params: dict[str, str], order: list[int], encode: list[bool], plus: bool) -> str:
    """One spelling of the same form: another field order, letters percent-encoded, + or %20."""
    items = [list(params.items())[i] for i in order]
    parts = []
    for (name, value), escape in zip(items, encode, strict=True):
        text = quote(value, safe="")
        if escape:
            text = "".join(f"%{ord(c):02X}" if c.isalpha() else c for c in text)
        parts.append(f"{quote(name)}={text.replace('%20', '+') if plus else text}")
    return "&".join(parts)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_spelling_of_a_signed_form_is_one_event_and_at_most_one_udm(bridge: Bridge, data: st.DataObject) -> None:
    # Given a worker on a call and a TaskRouter event signed as Twilio signs it
    worker = f"agent-{new_id()[4:14]}"
    bridge.live_call(f"identity:{worker}")
    params = reservation(worker)
    first = post_form(bridge, urlencode(params), params)
    assert first.json()["status"] == "delivered"

    # When it is sent again in other spellings: reordered, re-encoded, + for spaces
    for _ in range(3):
        order = data.draw(st.permutations(range(len(params))))
        encode = data.draw(st.lists(st.booleans(), min_size=len(params), max_size=len(params)))
        reply = post_form(bridge, spell(params, list(order), encode, data.draw(st.booleans())), params)
        # Then every one is the same event: the first answer again
        assert (reply.status, reply.json()["status"]) == (200, "delivered"), reply.body
    assert len(bridge.messages_for(f"twilio:{params['Sid']}")) == 1


def test_a_field_renamed_so_the_signature_still_holds_is_refused_not_read_without_it(bridge: Bridge) -> None:
    # Given a signed event whose time field is renamed by moving its value's first digit into the name:
    # Twilio's scheme concatenates names and values, so `Timestamp1=7…` signs like `Timestamp=17…`
    worker = f"agent-{new_id()[4:14]}"
    bridge.live_call(f"identity:{worker}")
    params = reservation(worker)
    stamp = params.pop("Timestamp")
    renamed = {**params, "Timestamp" + stamp[0]: stamp[1:]}
    assert twilio_signature("t", "u", renamed) == twilio_signature("t", "u", {**params, "Timestamp": stamp})

    # When it arrives
    reply = post_form(bridge, urlencode(renamed), {**params, "Timestamp": stamp})

    # Then it is refused, naming the missing time, and nothing is delivered
    assert reply.status == 422, reply.body
    assert "timestamp" in json.dumps(reply.json()["errors"])
    assert bridge.messages_for(f"twilio:{params['Sid']}") == []
