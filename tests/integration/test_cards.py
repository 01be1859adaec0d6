"""What the agent sees: each provider's published payload (tests/fixtures/), signed as its sender
signs it, through the real ingest handler, arrives as a card. The bridge fixture checks every Content
against content.schema.json after each test; these check what the cards say.

The fixtures are sent as published, with two changes made here, never in the files: the event's
own time is set to now (an event from 2016 is too old for a call that starts now, see freshness),
and the recipient is named where the published example names none (Stripe's metadata.identity)."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from content_contract import check_content
from helpers import Bridge, body_key, ledger_entry, new_event_body, new_id, rfc3339

from bridge import bootstrap, observability
from bridge.settings import LedgerSettings
from local.senders import (
    github_headers,
    hubspot_headers,
    intercom_headers,
    shopify_headers,
    stripe_headers,
    twilio_form_headers,
    zendesk_headers,
)

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
BASE = "https://127.0.0.1:3000/events"  # what senders that sign the URL sign here (no PUBLIC_BASE_URL)


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def secret(bridge: Bridge, source: str) -> str:
    return bridge.stack.credentials.source_secrets[source]


def only_card(bridge: Bridge, key: str) -> dict[str, Any]:
    [message] = bridge.messages_for(key)
    return check_content(message["content"])


def log_lines(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Every info line the bridge logs from now on, as (message, fields)."""
    lines: list[tuple[str, dict[str, Any]]] = []
    original = observability.logger.info

    def info(message: str, *args: Any, **fields: Any) -> None:
        lines.append((message, fields))
        original(message, *args, **fields)

    monkeypatch.setattr(observability.logger, "info", info)
    return lines


def delivered(reply: Any) -> None:
    assert reply.status == 200, reply.body
    assert reply.json()["status"] == "delivered", reply.body


def test_github_pull_request_of_28_kb_is_a_card_under_10_kb_titled_by_the_pull_request(bridge: Bridge) -> None:
    # Given Codertocat on a call, and octokit's pull_request example (28 KB), compactly serialized
    payload = fixture("github/pull_request.json")
    bridge.live_call("identity:Codertocat")
    raw = json.dumps(payload, separators=(",", ":"))
    assert len((FIXTURES / "github/pull_request.json").read_bytes()) > 27_000

    # When GitHub delivers it
    delivered(bridge.post_source("github", raw, github_headers(raw, secret(bridge, "github"), event="pull_request")))

    # Then the call got a card under 10 KB whose title is the pull request's
    [message] = bridge.messages_for(body_key("github", raw))
    assert len(message["content"].encode("utf-8")) < 10_240
    card = check_content(message["content"])
    assert payload["pull_request"]["title"] in card["title"]
    assert card["url"] == payload["pull_request"]["html_url"]


def test_stripe_payment_intent_card_carries_no_client_secret(bridge: Bridge) -> None:
    # Given Stripe's own PaymentIntent fixture, which holds a client_secret, naming an agent on a call
    body = fixture("stripe/payment_intent.created.json")
    identity = f"agent-{new_id()[4:14]}"
    body["data"]["object"]["metadata"] = {"identity": identity}
    body["id"], body["created"] = f"evt_{uuid.uuid4().hex[:24]}", int(time.time())
    bridge.live_call(f"identity:{identity}")
    raw = json.dumps(body)
    assert "_secret_" in raw

    # When Stripe posts it
    delivered(bridge.post_source("stripe", raw, stripe_headers(raw, secret(bridge, "stripe"))))

    # Then the card shows the formatted payment and nothing of the secret
    [message] = bridge.messages_for(f"stripe:{body['id']}")
    assert "client_secret" not in message["content"]
    assert "_secret_" not in message["content"]
    card = check_content(message["content"])
    assert card["title"] == "Payment created: 10.99 USD"


def test_shopify_order_card_sends_int64_ids_as_strings(bridge: Bridge) -> None:
    # Given Shopify's orders/create example, whose IDs are beyond JavaScript's 2^53
    payload = fixture("shopify/orders.create.json")
    bridge.live_call(f"shopify-customer:{payload['customer']['id']}")
    raw = (FIXTURES / "shopify/orders.create.json").read_bytes()
    webhook_id = str(uuid.uuid4())

    # When Shopify posts it (it signs no timestamp; the trigger time header is now)
    headers = shopify_headers(raw, secret(bridge, "shopify"), webhook_id=webhook_id)
    reply = bridge.post_source("shopify", raw, headers)

    # Then the IDs arrive as strings, digit for digit
    delivered(reply)
    card = only_card(bridge, body_key("shopify", raw))
    assert card["data"]["id"] == "820982911946154508"
    assert card["data"]["customer"] == "115310627314723954"
    assert card["title"] == "Order #9999: 404.95 USD"


def test_zendesk_ticket_card(bridge: Bridge) -> None:
    body = fixture("zendesk/ticket.created.json")
    body["id"] = str(uuid.uuid4())
    body["time"] = rfc3339()
    bridge.live_call(f"zendesk-agent:{body['detail']['assignee_id']}")
    raw = json.dumps(body).encode()
    delivered(bridge.post_source("zendesk", raw, zendesk_headers(raw, secret(bridge, "zendesk"))))
    card = only_card(bridge, f"zendesk:{body['id']}")
    assert card["title"] == "Ticket #5158: ticketinfo_2294a6e9ece2"
    assert {"label": "Priority", "value": "LOW"} in card["fields"]


def test_hubspot_property_change_card(bridge: Bridge) -> None:
    batch = fixture("hubspot/contact.propertyChange.json")
    for event in batch:
        event["eventId"] = uuid.uuid4().int % 10**10
        event["occurredAt"] = int(time.time() * 1000)
    bridge.live_call(f"hubspot-object:{batch[0]['objectId']}")
    raw = json.dumps(batch).encode()
    reply = bridge.post_source("hubspot", raw, hubspot_headers(raw, secret(bridge, "hubspot"), f"{BASE}/hubspot"))
    assert reply.status == 200, reply.body
    assert reply.json()["events"][0]["status"] == "delivered", reply.body
    card = only_card(bridge, f"hubspot:{batch[0]['eventId']}")
    assert card["title"] == "Contact 1246965: lifecyclestage changed"


def test_intercom_conversation_card(bridge: Bridge) -> None:
    body = fixture("intercom/conversation.admin.assigned.json")
    body["created_at"] = int(time.time())
    body["id"] = f"notif_{uuid.uuid4()}"  # the signed notification ID: the event's identity
    bridge.live_call(f"intercom-admin:{body['data']['item']['admin_assignee_id']}")
    raw = json.dumps(body).encode()
    delivered(bridge.post_source("intercom", raw, intercom_headers(raw, secret(bridge, "intercom"))))
    card = only_card(bridge, f"intercom:{body['id']}")
    assert (card["title"], card["summary"]) == ("Conversation 405", "Admin assigned the conversation")


def test_twilio_reservation_card(bridge: Bridge) -> None:
    params = fixture("twilio/reservation.created.json")
    params["WorkerName"] = f"agent-{new_id()[4:14]}"
    params["Timestamp"] = str(int(time.time()))
    params["Sid"] = "EV" + uuid.uuid4().hex  # the signed event ID: the event's identity
    bridge.live_call(f"identity:{params['WorkerName']}")
    raw = urlencode(params)
    headers = twilio_form_headers(secret(bridge, "twilio"), f"{BASE}/twilio", params)
    delivered(bridge.post_source("twilio", raw, headers))
    card = only_card(bridge, f"twilio:{params['Sid']}")
    assert card["title"] == "Reservation created: Ada Lovelace"
    assert card["data"]["attributes"]["from"] == "+15558675310"


def test_a_named_sources_card_over_the_limit_is_delivered_truncated(
    bridge: Bridge, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a pull request whose description alone is over Twilio's 10 KB
    payload = fixture("github/pull_request.json")
    payload["pull_request"]["body"] = "The whole story. " * 1_000
    bridge.live_call("identity:Codertocat")
    raw = json.dumps(payload)

    # When GitHub delivers it
    lines = log_lines(monkeypatch)
    reply = bridge.post_source("github", raw, github_headers(raw, secret(bridge, "github"), event="pull_request"))

    # Then it is delivered, not refused: the description dropped, and the card says so
    delivered(reply)
    card = only_card(bridge, body_key("github", raw))
    assert card["truncated"] is True
    assert "body" not in card["data"]
    assert card["data"]["number"] == payload["number"]
    # And the delivery's log line says it was truncated
    [line] = [fields for message, fields in lines if message == "udm delivered"]
    assert line["truncated"] is True


def test_the_default_source_keeps_its_413_over_the_limit(bridge: Bridge) -> None:
    key, _ = bridge.live_call()
    reply = bridge.post_event(new_event_body(key, type="helpdesk.note", data={"note": "x" * 11_000}))
    assert reply.status == 413, reply.body
    assert reply.json()["code"] == "content_too_large"
    assert bridge.stack.emulator.stats()["udm_requests"] == 0


def test_the_envelope_names_its_own_title_and_summary(bridge: Bridge) -> None:
    key, _ = bridge.live_call()
    event_id = new_id()
    body = new_event_body(key, title="Ada Lovelace is calling", summary="Gold customer, 2 open tickets")
    delivered(bridge.post_event(body, event_id=event_id))
    card = only_card(bridge, event_id)
    assert (card["title"], card["summary"]) == ("Ada Lovelace is calling", "Gold customer, 2 open tickets")
    assert card["data"] == body["data"]


def test_redaction_is_logged_and_recorded_in_the_ledger_never_the_value(
    bridge: Bridge, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an envelope whose data holds a password and a card number
    key, _ = bridge.live_call()
    data = {"customer_id": "cus_1", "name": "Ada", "tier": "gold", "password": "hunter2"}
    event_id = new_id()

    # When it is delivered
    lines = log_lines(monkeypatch)
    body = new_event_body(key, type="crm.note", data={**data, "card": "4242 4242 4242 4242"})
    reply = bridge.post_event(body, event_id=event_id)
    delivered(reply)
    assert "redacted" not in reply.json()  # the sender's answer is unchanged: the log line has it

    # Then the call never sees them, and the log line names where they were
    [message] = bridge.messages_for(event_id)
    assert "hunter2" not in message["content"]
    assert "4242 4242 4242 4242" not in message["content"]
    assert check_content(message["content"])["data"]["card"] == "•••• 4242"
    [line] = [fields for message, fields in lines if message == "udm delivered"]
    assert line["redacted"] == ["/data/password", "/data/card"]
    assert "hunter2" not in json.dumps(lines)

    # And an event too old for the call is recorded in the ledger with the pointers, not the values
    stale_id, nobody = new_id(), f"identity:{new_id()}"
    old = new_event_body(nobody, type="crm.note", data=data, timestamp=rfc3339(time.time() - 7200))
    reply = bridge.post_event(old, event_id=stale_id)
    assert reply.json()["status"] == "stale", reply.body
    entry = ledger_entry(bridge.stack, stale_id)
    assert entry is not None
    assert entry["redacted"] == [{"S": "/data/password"}]  # the item's list, as DynamoDB holds it
    assert "hunter2" not in json.dumps(entry)
    # and the operators' CLI reads it back as the pointers
    table = bootstrap.ledger(LedgerSettings("LedgerTable"), client=bridge.stack.client("dynamodb"))
    recorded = table.get(stale_id)
    assert recorded is not None
    assert recorded.redacted == ("/data/password",)
