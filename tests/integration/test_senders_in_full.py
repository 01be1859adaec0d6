"""All of what real senders send, through the real ingest handler (issue 20): HubSpot's and Twilio
Event Streams' batches, retry counters in the body, pings, test deliveries, compliance topics,
Intercom's assignment topics, and a 2xx for "not on a call".

Payloads come from tests/fixtures/ (each with its source) where a provider publishes them in a
repository; where a provider publishes them only in its documentation, the test builds the
documented shape and names the page."""

from __future__ import annotations

import copy
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from helpers import Bridge, body_key, ledger_entry, new_id

from local.senders import (
    hubspot_headers,
    intercom_headers,
    shopify_headers,
    stripe_headers,
    twilio_json_url,
    twilio_signature,
)

pytestmark = pytest.mark.integration

BASE = "https://127.0.0.1:3000/events"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def fixture(path: str) -> Any:
    return json.loads((FIXTURES / path).read_text(encoding="utf-8"))


def secret(bridge: Bridge, source: str) -> str:
    return bridge.stack.credentials.source_secrets[source]


# -- HubSpot batches -------------------------------------------------------------------------------


def hubspot_event(object_id: int, subscription: str = "contact.propertyChange", **fields: Any) -> dict[str, Any]:
    """One event of a batch, as HubSpot's webhooks page documents them (the fixture's shape, fresh IDs)."""
    [event] = copy.deepcopy(fixture("hubspot/contact.creation.json"))
    event.update(
        {
            "eventId": uuid.uuid4().int % 10**10,
            "objectId": object_id,
            "occurredAt": int(time.time() * 1000),
            "subscriptionType": subscription,
            "propertyName": "lifecyclestage",
            "propertyValue": "customer",
            **fields,
        }
    )
    return event


def post_hubspot(bridge: Bridge, batch: list[dict[str, Any]]) -> Any:
    raw = json.dumps(batch).encode()
    return bridge.post_source("hubspot", raw, hubspot_headers(raw, secret(bridge, "hubspot"), f"{BASE}/hubspot"))


def record() -> int:
    return uuid.uuid4().int % 10**9


def test_both_events_of_hubspots_two_event_batch_are_delivered(bridge: Bridge) -> None:
    # Given two records open on two calls (HubSpot's documented batch: a property change and a creation)
    first, second = record(), record()
    _, first_call = bridge.live_call(f"hubspot-object:{first}")
    _, second_call = bridge.live_call(f"hubspot-object:{second}")
    batch = [hubspot_event(first), hubspot_event(second, "contact.creation")]

    # When HubSpot posts them in one request
    reply = post_hubspot(bridge, batch)

    # Then each reaches its call, and the answer lists each
    assert reply.status == 200, reply.body
    assert [(e["status"], e["call_sid"]) for e in reply.json()["events"]] == [
        ("delivered", first_call),
        ("delivered", second_call),
    ]
    for event in batch:
        assert len(bridge.messages_for(f"hubspot:{event['eventId']}")) == 1


def test_a_batch_whose_first_event_is_unforwarded_or_on_no_call_still_delivers_the_others(bridge: Bridge) -> None:
    on_call = record()
    _, call_sid = bridge.live_call(f"hubspot-object:{on_call}")
    batch = [
        hubspot_event(record(), "contact.deletion"),  # a type the profile does not forward
        hubspot_event(record()),  # a record nobody has open
        hubspot_event(on_call),
    ]
    reply = post_hubspot(bridge, batch)
    assert reply.status == 200, reply.body
    statuses = [(e["status"], e.get("reason")) for e in reply.json()["events"]]
    assert statuses == [("ignored", "type_not_forwarded"), ("no_active_call", None), ("delivered", None)]
    assert reply.json()["events"][2]["call_sid"] == call_sid


def test_a_hubspot_retry_with_attempt_number_bumped_makes_no_second_udm(bridge: Bridge) -> None:
    # Given a delivered batch
    on_call = record()
    bridge.live_call(f"hubspot-object:{on_call}")
    batch = [hubspot_event(on_call)]
    assert post_hubspot(bridge, batch).status == 200

    # When HubSpot retries it, with attemptNumber bumped as it documents
    retry = [{**batch[0], "attemptNumber": 1}]
    reply = post_hubspot(bridge, retry)

    # Then it is answered 2xx with the first answer, and Twilio got one message
    assert reply.status == 200, reply.body
    assert reply.json()["events"][0]["status"] == "delivered"
    assert len(bridge.messages_for(f"hubspot:{batch[0]['eventId']}")) == 1


def test_a_batch_event_that_cannot_be_read_is_refused_alone(bridge: Bridge) -> None:
    on_call = record()
    bridge.live_call(f"hubspot-object:{on_call}")
    broken = hubspot_event(record())
    del broken["eventId"]
    reply = post_hubspot(bridge, [broken, hubspot_event(on_call)])
    assert reply.status == 200, reply.body
    assert [e["status"] for e in reply.json()["events"]] == ["rejected", "delivered"]
    assert reply.json()["events"][0]["code"] == "schema_violation"


# -- Intercom --------------------------------------------------------------------------------------


def intercom_notification(topic: str, item: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A notification as Intercom's webhook models page documents it, around a published item."""
    return {
        "type": "notification_event",
        "app_id": "ocd3kkzk",
        "data": {"type": "notification_event_data", "item": item},
        "links": {},
        "id": f"notif_{uuid.uuid4()}",
        "topic": topic,
        "delivery_status": "pending",
        "delivery_attempts": 1,
        "delivered_at": 0,
        "first_sent_at": int(time.time()),
        "created_at": int(time.time()),
        "self": None,
        **fields,
    }


def post_intercom(bridge: Bridge, body: dict[str, Any]) -> Any:
    raw = json.dumps(body).encode()
    return bridge.post_source("intercom", raw, intercom_headers(raw, secret(bridge, "intercom")))


def test_an_intercom_retry_with_delivery_attempts_bumped_makes_no_second_udm(bridge: Bridge) -> None:
    item = fixture("intercom/conversation.api-2.14.json")
    bridge.live_call(f"intercom-admin:{item['admin_assignee_id']}")
    first = intercom_notification("conversation.admin.assigned", item)
    assert post_intercom(bridge, first).json()["status"] == "delivered"

    reply = post_intercom(bridge, {**first, "delivery_attempts": 2, "first_sent_at": first["first_sent_at"] + 60})

    assert reply.status == 200, reply.body
    assert reply.headers.get("Idempotent-Replayed") == "true"
    assert len(bridge.messages_for(f"intercom:{first['id']}")) == 1


def test_intercoms_ping_without_an_id_is_acknowledged(bridge: Bridge) -> None:
    ping = intercom_notification("ping", {"type": "ping", "message": "something"}, id=None)
    reply = post_intercom(bridge, ping)
    assert reply.status == 200, reply.body
    assert (reply.json()["status"], reply.json()["reason"]) == ("ignored", "ping")


@pytest.mark.parametrize(
    ("topic", "item"),
    [
        ("conversation.admin.assigned", "intercom/conversation.api-2.14.json"),
        ("ticket.admin.assigned", "intercom/ticket.api-2.14.json"),
    ],
)
def test_intercom_assignment_topics_reach_the_assignees_call(bridge: Bridge, topic: str, item: str) -> None:
    published = fixture(item)
    _, call_sid = bridge.live_call(f"intercom-admin:{published['admin_assignee_id']}")
    reply = post_intercom(bridge, intercom_notification(topic, published))
    assert reply.status == 200, reply.body
    assert (reply.json()["status"], reply.json()["call_sid"]) == ("delivered", call_sid)


def test_an_older_api_versions_assignee_object_reaches_the_admins_call(bridge: Bridge) -> None:
    item = {**fixture("intercom/conversation.api-2.14.json"), "admin_assignee_id": None}
    admin = str(record())
    item["assignee"] = {"type": "admin", "id": admin}
    _, call_sid = bridge.live_call(f"intercom-admin:{admin}")
    reply = post_intercom(bridge, intercom_notification("conversation.admin.assigned", item))
    assert (reply.json()["status"], reply.json()["call_sid"]) == ("delivered", call_sid)


# -- Shopify ---------------------------------------------------------------------------------------


def post_shopify(bridge: Bridge, body: dict[str, Any], topic: str, **headers: str) -> Any:
    raw = json.dumps(body).encode()
    signed = {**shopify_headers(raw, secret(bridge, "shopify"), topic=topic), **headers}
    return bridge.post_source("shopify", raw, signed)


def order_for_a_customer_on_a_call(bridge: Bridge) -> tuple[dict[str, Any], str]:
    order = fixture("shopify/orders_create.json")
    order["id"] = uuid.uuid4().int % 10**12
    order["customer"]["id"] = uuid.uuid4().int % 10**12
    _, call_sid = bridge.live_call(f"shopify-customer:{order['customer']['id']}")
    return order, call_sid


def test_a_shopify_test_notification_reaches_no_call(bridge: Bridge) -> None:
    order, _ = order_for_a_customer_on_a_call(bridge)
    reply = post_shopify(bridge, order, "orders/create", **{"x-shopify-test": "true"})
    assert reply.status == 200, reply.body
    assert (reply.json()["status"], reply.json()["reason"]) == ("ignored", "test")
    assert bridge.messages_for(body_key("shopify", json.dumps(order))) == []


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        ("customers/redact", "shopify/customers_redact.json"),
        ("customers/data_request", "shopify/customers_data_request.json"),
        ("shop/redact", "shopify/shop_redact.json"),
    ],
)
def test_each_compliance_topic_is_a_2xx_with_no_udm_and_one_ledger_entry(
    bridge: Bridge, topic: str, payload: str
) -> None:
    # Given the customer it concerns on a call
    body = fixture(payload)
    body["shop_id"] = record()  # a fresh body: a fresh event
    customer = body.get("customer", {}).get("id")
    if customer:
        bridge.live_call(f"shopify-customer:{customer}")

    # When Shopify posts the compliance request, twice (a retry)
    replies = [post_shopify(bridge, body, topic) for _ in range(2)]

    # Then it is acknowledged, shown on no call, and recorded once for an operator
    assert [(r.status, r.json()["reason"]) for r in replies] == [(200, "compliance")] * 2
    key = body_key("shopify", json.dumps(body))
    assert bridge.messages_for(key) == []
    entry = ledger_entry(bridge.stack, key)
    assert entry is not None
    assert entry["reason"] == "compliance"


# -- a 2xx for "not on a call" ---------------------------------------------------------------------


def test_a_stripe_event_for_someone_not_on_a_call_is_a_2xx_no_active_call(bridge: Bridge) -> None:
    event = fixture("stripe/payment_intent.succeeded.json")
    event["id"] = f"evt_{new_id()}"
    event["created"] = int(time.time())
    event["data"]["object"]["metadata"] = {"identity": f"nobody-{new_id()}"}
    raw = json.dumps(event)
    reply = bridge.post_source("stripe", raw, stripe_headers(raw, secret(bridge, "stripe")))
    assert reply.status == 200, reply.body
    assert reply.json()["status"] == "no_active_call"


def test_a_shopify_order_for_a_customer_not_on_a_call_is_a_2xx_no_active_call(bridge: Bridge) -> None:
    order = fixture("shopify/orders_create.json")
    order["customer"]["id"] = uuid.uuid4().int % 10**12
    reply = post_shopify(bridge, order, "orders/create")
    assert (reply.status, reply.json()["status"]) == (200, "no_active_call")


def test_the_default_source_keeps_its_404_for_no_active_call(bridge: Bridge) -> None:
    from helpers import new_event_body

    reply = bridge.post_event(new_event_body(f"identity:nobody-{new_id()}"))
    assert reply.status == 404
    assert reply.json()["code"] == "no_active_call"


# -- Twilio Event Streams --------------------------------------------------------------------------


def cloud_event(worker: str, event_type: str = "com.twilio.taskrouter.reservation.created") -> dict[str, Any]:
    """A CloudEvent as Twilio's Event Streams documents its deliveries (a JSON array of these)."""
    return {
        "specversion": "1.0",
        "type": event_type,
        "source": "/v1/Workspaces/WS" + uuid.uuid4().hex + "/Events/EV" + uuid.uuid4().hex,
        "id": "EV" + uuid.uuid4().hex,
        "dataschema": "https://events-schemas.twilio.com/TaskRouter.WDSEvent/1",
        "datacontenttype": "application/json",
        "time": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "data": {
            "payload": {"worker_name": worker, "reservation_sid": "WR" + uuid.uuid4().hex, "task_queue_name": "Support"}
        },
    }


def test_a_twilio_event_streams_batch_is_verified_and_each_event_handled(bridge: Bridge) -> None:
    # Given a worker on a call, and Event Streams posting two events in one request
    worker = f"agent-{new_id()[4:14]}"
    _, call_sid = bridge.live_call(f"identity:{worker}")
    batch = [cloud_event(worker), cloud_event(worker, "com.twilio.taskrouter.worker.activity.update")]
    raw = json.dumps(batch)
    url = twilio_json_url(f"{BASE}/twilio-event-streams", raw)
    signature = twilio_signature(secret(bridge, "twilio-event-streams"), url)
    headers = {"content-type": "application/json", "x-twilio-signature": signature}
    query = url.split("?", 1)[1]

    # When it arrives signed with X-Twilio-Signature over the URL and its bodySHA256
    reply = bridge.post_source("twilio-event-streams", raw, headers, query=query)

    # Then the reservation reaches the worker's call and the other type is acknowledged
    assert reply.status == 200, reply.body
    events = reply.json()["events"]
    assert (events[0]["status"], events[0]["call_sid"]) == ("delivered", call_sid)
    assert (events[1]["status"], events[1]["reason"]) == ("ignored", "type_not_forwarded")

    # And a tampered body is refused as a whole
    tampered = raw.replace("Support", "Sales")
    assert bridge.post_source("twilio-event-streams", tampered, headers, query=query).status == 401
