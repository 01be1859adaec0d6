"""POST /events/{zendesk,hubspot,intercom,shopify,twilio}: each signed as its sender signs, through
the real ingest handler. A valid delivery reaches the recipient's call; a tampered body is a 401; a
stale signed timestamp is a 401 where the scheme signs one (Zendesk, HubSpot)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import pytest
from helpers import EVENTS, Bridge, body_key, new_id

from local.senders import (
    hubspot_headers,
    intercom_headers,
    shopify_headers,
    twilio_form_headers,
    twilio_json_url,
    twilio_signature,
    zendesk_headers,
)

pytestmark = pytest.mark.integration

# What the handler sees in tests: no PUBLIC_BASE_URL, so senders that sign the URL sign https://<Host>/...
BASE = "https://127.0.0.1:3000/events"


def secret(bridge: Bridge, source: str) -> str:
    return bridge.stack.credentials.source_secrets[source]


def sample(name: str) -> Any:
    return json.loads((EVENTS / name).read_text())


# -- Zendesk ----------------------------------------------------------------------------------------


def zendesk_event(agent: str) -> bytes:
    body = sample("body-zendesk-ticket.json")
    body["id"] = str(uuid.uuid4())
    body["detail"]["assignee_id"] = agent
    body["time"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return json.dumps(body).encode()


def test_zendesk_ticket_event_reaches_the_assignees_call(bridge: Bridge) -> None:
    # Given the ticket's assignee on a call, registered under the key the profile names
    agent = str(uuid.uuid4().int)[:13]
    _, call_sid = bridge.live_call(f"zendesk-agent:{agent}")
    raw = zendesk_event(agent)

    # When Zendesk posts the ticket event
    reply = bridge.post_source("zendesk", raw, zendesk_headers(raw, secret(bridge, "zendesk")))

    # Then it reaches the call with the ticket's summary
    assert reply.status == 200, reply.body
    assert reply.json()["call_sid"] == call_sid
    [message] = bridge.messages_for(f"zendesk:{json.loads(raw)['id']}")
    content = json.loads(message["content"])
    assert content["type"] == "zen:event-type:ticket.priority_changed"
    assert content["data"]["ticket"] == "5158"


def test_zendesk_tampered_body_is_a_401(bridge: Bridge) -> None:
    raw = zendesk_event("42")
    headers = zendesk_headers(raw, secret(bridge, "zendesk"))
    assert bridge.post_source("zendesk", raw.replace(b"HIGH", b"LOW"), headers).status == 401


def test_zendesk_stale_timestamp_is_a_401(bridge: Bridge) -> None:
    raw = zendesk_event("42")
    reply = bridge.post_source(
        "zendesk", raw, zendesk_headers(raw, secret(bridge, "zendesk"), timestamp=time.time() - 301)
    )
    assert reply.status == 401
    assert "tolerance" in reply.json()["detail"]


def test_zendesk_events_of_other_kinds_are_ignored(bridge: Bridge) -> None:
    body = sample("body-zendesk-ticket.json")
    body["type"] = "zen:event-type:user.created"
    raw = json.dumps(body).encode()
    reply = bridge.post_source("zendesk", raw, zendesk_headers(raw, secret(bridge, "zendesk")))
    assert (reply.status, reply.json()["reason"]) == (200, "type_not_forwarded")


# -- HubSpot ----------------------------------------------------------------------------------------


def hubspot_batch(object_id: int) -> bytes:
    batch = sample("body-hubspot-contact.json")
    batch[0]["eventId"] = uuid.uuid4().int % 10**10
    batch[0]["objectId"] = object_id
    batch[0]["occurredAt"] = int(time.time() * 1000)
    return json.dumps(batch).encode()


def test_hubspot_change_reaches_the_call_that_has_the_record_open(bridge: Bridge) -> None:
    # Given an agent's call registered under the HubSpot record it has open
    record = uuid.uuid4().int % 10**9
    _, call_sid = bridge.live_call(f"hubspot-object:{record}")
    raw = hubspot_batch(record)

    # When HubSpot posts the change, signed over method, URL, body and timestamp
    reply = bridge.post_source("hubspot", raw, hubspot_headers(raw, secret(bridge, "hubspot"), f"{BASE}/hubspot"))

    # Then it reaches that call (a batch's answer lists each of its events)
    assert reply.status == 200, reply.body
    [answer] = reply.json()["events"]
    assert answer["call_sid"] == call_sid
    content = json.loads(bridge.messages_for(f"hubspot:{json.loads(raw)[0]['eventId']}")[0]["content"])
    assert content["data"]["property"] == "lifecyclestage"


def test_hubspot_signature_covers_the_url(bridge: Bridge) -> None:
    raw = hubspot_batch(7)
    headers = hubspot_headers(raw, secret(bridge, "hubspot"), f"{BASE}/elsewhere")
    assert bridge.post_source("hubspot", raw, headers).status == 401


def test_hubspot_tampered_body_is_a_401(bridge: Bridge) -> None:
    raw = hubspot_batch(7)
    headers = hubspot_headers(raw, secret(bridge, "hubspot"), f"{BASE}/hubspot")
    assert bridge.post_source("hubspot", raw.replace(b"customer", b"lead"), headers).status == 401


def test_hubspot_timestamp_over_five_minutes_old_is_a_401(bridge: Bridge) -> None:
    raw = hubspot_batch(7)
    headers = hubspot_headers(raw, secret(bridge, "hubspot"), f"{BASE}/hubspot", timestamp=time.time() - 301)
    reply = bridge.post_source("hubspot", raw, headers)
    assert reply.status == 401
    assert "tolerance" in reply.json()["detail"]


# -- Intercom ---------------------------------------------------------------------------------------


def intercom_notification(admin: int) -> bytes:
    body = sample("body-intercom-conversation.json")
    body["id"] = f"notif_{uuid.uuid4()}"
    body["data"]["item"]["admin_assignee_id"] = admin
    body["created_at"] = int(time.time())
    return json.dumps(body).encode()


def test_intercom_conversation_reaches_the_assigned_teammates_call(bridge: Bridge) -> None:
    admin = uuid.uuid4().int % 10**7
    _, call_sid = bridge.live_call(f"intercom-admin:{admin}")
    raw = intercom_notification(admin)
    reply = bridge.post_source("intercom", raw, intercom_headers(raw, secret(bridge, "intercom")))
    assert reply.status == 200, reply.body
    assert reply.json()["call_sid"] == call_sid
    # Intercom signs its body, so the notification's id is its identity
    content = json.loads(bridge.messages_for(f"intercom:{json.loads(raw)['id']}")[0]["content"])
    assert (content["type"], content["data"]["title"]) == ("conversation.admin.assigned", "Refund for order 1042")


def test_intercom_tampered_body_is_a_401(bridge: Bridge) -> None:
    raw = intercom_notification(1)
    headers = intercom_headers(raw, secret(bridge, "intercom"))
    assert bridge.post_source("intercom", raw.replace(b"open", b"shut"), headers).status == 401


def test_intercom_unassigned_conversation_is_ignored(bridge: Bridge) -> None:
    body = json.loads(intercom_notification(1))
    body["data"]["item"]["admin_assignee_id"] = None
    raw = json.dumps(body).encode()
    reply = bridge.post_source("intercom", raw, intercom_headers(raw, secret(bridge, "intercom")))
    assert (reply.status, reply.json()["reason"]) == (200, "no_recipient")


# -- Shopify ----------------------------------------------------------------------------------------


def test_shopify_order_reaches_the_customers_call(bridge: Bridge) -> None:
    # Given an agent on a call with a customer, registered under the customer's record key
    order = sample("body-shopify-order.json")
    order["customer"]["id"] = uuid.uuid4().int % 10**15
    _, call_sid = bridge.live_call(f"shopify-customer:{order['customer']['id']}")
    raw = json.dumps(order).encode()
    webhook_id = str(uuid.uuid4())

    # When Shopify posts orders/create
    reply = bridge.post_source("shopify", raw, shopify_headers(raw, secret(bridge, "shopify"), webhook_id=webhook_id))

    # Then it reaches that call, keyed on the signed body (Shopify signs no timestamp), with
    # X-Shopify-Webhook-Id as the event's ID
    assert reply.status == 200, reply.body
    assert reply.json()["call_sid"] == call_sid
    content = json.loads(bridge.messages_for(body_key("shopify", raw))[0]["content"])
    assert content["id"] == webhook_id
    assert (content["type"], content["data"]["name"]) == ("orders/create", "#1042")


def test_shopify_tampered_body_is_a_401(bridge: Bridge) -> None:
    raw = json.dumps(sample("body-shopify-order.json")).encode()
    headers = shopify_headers(raw, secret(bridge, "shopify"))
    assert bridge.post_source("shopify", raw.replace(b"42.00", b"0.01"), headers).status == 401


# -- Twilio (TaskRouter) ----------------------------------------------------------------------------


def reservation(worker: str) -> dict[str, str]:
    return {
        "AccountSid": "AC" + "0" * 32,
        "WorkspaceSid": "WS" + uuid.uuid4().hex,
        "Sid": "EV" + uuid.uuid4().hex,
        "EventType": "reservation.created",
        "EventDescription": f"Reservation created for worker {worker}",
        "Timestamp": str(int(time.time())),
        "TaskSid": "WT" + uuid.uuid4().hex,
        "ReservationSid": "WR" + uuid.uuid4().hex,
        "WorkerSid": "WK" + uuid.uuid4().hex,
        "WorkerName": worker,
        "TaskQueueName": "Support",
        "TaskAttributes": json.dumps({"from": "+15557654321", "type": "inbound"}),
    }


def test_taskrouter_reservation_reaches_the_workers_call(bridge: Bridge) -> None:
    # Given the worker on a call, and TaskRouter reserving a task for them
    worker = f"agent-{new_id()[4:14]}"
    _, call_sid = bridge.live_call(f"identity:{worker}")
    params = reservation(worker)
    url = f"{BASE}/twilio"

    # When TaskRouter posts its form-encoded event callback, signed with the auth token
    raw = urlencode(params)
    reply = bridge.post_source("twilio", raw, twilio_form_headers(secret(bridge, "twilio"), url, params))

    # Then the reservation reaches the worker's call, keyed on its signed EventSid
    assert reply.status == 200, reply.body
    assert reply.json()["call_sid"] == call_sid
    content = json.loads(bridge.messages_for(f"twilio:{params['Sid']}")[0]["content"])
    assert content["id"] == params["Sid"]
    assert (content["type"], content["data"]["reservation"]) == ("reservation.created", params["ReservationSid"])


def test_twilio_tampered_form_is_a_401(bridge: Bridge) -> None:
    params = reservation("alice")
    headers = twilio_form_headers(secret(bridge, "twilio"), f"{BASE}/twilio", params)
    tampered = urlencode({**params, "WorkerName": "mallory"})
    assert bridge.post_source("twilio", tampered, headers).status == 401


def test_twilio_json_callback_verifies_with_body_sha256(bridge: Bridge) -> None:
    worker = f"agent-{new_id()[4:14]}"
    _, call_sid = bridge.live_call(f"identity:{worker}")
    raw = json.dumps(reservation(worker))
    url = twilio_json_url(f"{BASE}/twilio", raw)
    query = url.split("?", 1)[1]
    headers = {
        "content-type": "application/json",
        "x-twilio-signature": twilio_signature(secret(bridge, "twilio"), url),
    }
    reply = bridge.post_source("twilio", raw, headers, query=query)
    assert reply.status == 200, reply.body
    assert reply.json()["call_sid"] == call_sid
    assert bridge.post_source("twilio", raw.replace(worker, "mallory"), headers, query=query).status == 401


def test_twilio_events_other_than_reservations_are_ignored(bridge: Bridge) -> None:
    params = {**reservation("alice"), "EventType": "worker.activity.update"}
    headers = twilio_form_headers(secret(bridge, "twilio"), f"{BASE}/twilio", params)
    reply = bridge.post_source("twilio", urlencode(params), headers)
    assert (reply.status, reply.json()["reason"]) == (200, "type_not_forwarded")
