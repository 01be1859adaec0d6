"""Several recipients per event, and every live call that concerns them (issue 22), over the real
ingest handler: each distinct live call gets one UDM, keyed by the event and the call."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import Bridge, new_event_body, new_id

from local.senders import stripe_headers

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def number() -> str:
    """A fictional North American number (555 exchange), fresh per test."""
    return f"+1555{int(time.time_ns()) % 10**7:07d}"


def register(bridge: Bridge, key: str, call_sid: str) -> None:
    assert bridge.calls("PUT", key, {"call_sid": call_sid}).status == 200


def test_two_recipients_on_the_same_leg_make_one_udm(bridge: Bridge) -> None:
    # Given alice on a call, registered under her identity and the customer's number
    phone = number()
    key, call_sid = bridge.live_call()
    register(bridge, f"phone:{phone}", call_sid)
    event_id = new_id()

    # When an event names both
    reply = bridge.post_event(new_event_body([key, f"phone:{phone}"]), event_id=event_id)

    # Then the leg gets it once, and the answer says so for each recipient
    assert reply.status == 200, reply.body
    assert [(d["recipient"], d["status"], d["call_sid"]) for d in reply.json()["deliveries"]] == [
        (key, "delivered", call_sid),
        (f"phone:{phone}", "delivered", call_sid),
    ]
    assert [m["call_sid"] for m in bridge.messages_for(event_id)] == [call_sid]


def test_recipients_on_different_calls_each_get_it_and_one_without_a_call_is_listed(bridge: Bridge) -> None:
    first, first_call = bridge.live_call()
    second, second_call = bridge.live_call()
    nobody = f"identity:nobody-{new_id()}"
    event_id = new_id()
    reply = bridge.post_event(new_event_body([first, nobody, second]), event_id=event_id)
    assert reply.status == 200, reply.body
    assert [d["status"] for d in reply.json()["deliveries"]] == ["delivered", "no_active_call", "delivered"]
    assert sorted(m["call_sid"] for m in bridge.messages_for(event_id)) == sorted([first_call, second_call])


def stripe_payment(phone: str) -> dict[str, Any]:
    """Stripe's published checkout.session.completed, for a customer whose phone Checkout collected."""
    event = json.loads((FIXTURES / "stripe/checkout.session.completed.json").read_text(encoding="utf-8"))
    event["id"] = f"evt_{new_id()}"
    event["created"] = int(time.time())
    event["data"]["object"]["customer_details"]["phone"] = phone
    return event


def post_stripe(bridge: Bridge, event: dict[str, Any]) -> Any:
    raw = json.dumps(event)
    return bridge.post_source("stripe", raw, stripe_headers(raw, bridge.stack.credentials.source_secrets["stripe"]))


def test_a_warm_transfer_gets_the_customers_payment_on_both_agents_legs_once(bridge: Bridge) -> None:
    # Given the customer with two agents at once (a warm transfer): two live legs under one number
    phone = number()
    _, first_leg = bridge.live_call(f"phone:{phone}")
    _, second_leg = bridge.live_call(f"phone:{phone}")
    event = stripe_payment(phone)

    # When Stripe posts the payment, whose source fans out to every live call (fanout: all)
    reply = post_stripe(bridge, event)

    # Then each leg gets one UDM
    assert reply.status == 200, reply.body
    key = f"stripe:{event['id']}"
    assert sorted(m["call_sid"] for m in bridge.messages_for(key)) == sorted([first_leg, second_leg])

    # And Stripe's retry adds none
    assert post_stripe(bridge, event).headers.get("Idempotent-Replayed") == "true"
    assert len(bridge.messages_for(key)) == 2


def test_a_senders_free_form_phone_is_read_as_the_number_on_the_line(bridge: Bridge) -> None:
    phone = number()
    _, leg = bridge.live_call(f"phone:{phone}")
    spelled = f"+1 ({phone[2:5]}) {phone[5:8]}-{phone[8:]}"
    reply = post_stripe(bridge, stripe_payment(spelled))
    assert (reply.json()["status"], reply.json()["call_sid"]) == ("delivered", leg)
