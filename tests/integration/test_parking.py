"""Parking: events that arrive before their call are held, flushed in order when it registers,
delivered exactly once, or recorded in the ledger with the reason."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from helpers import Bridge, event_of, ledger_entry, new_event_body, new_id, wait_for

from bridge import bootstrap
from bridge.domain.retry import Deadline

pytestmark = pytest.mark.integration


def fresh_key() -> str:
    return f"identity:{new_id()}"


def register(bridge: Bridge, key: str) -> str:
    """The call starts: the emulator knows it and PUT /calls registers it (the stream then flushes)."""
    call = bridge.stack.emulator.create_call(bridge.stack.credentials.account.account_sid)
    assert bridge.calls("PUT", key, {"call_sid": call["sid"]}).status == 200
    return str(call["sid"])


def test_event_before_its_call_is_parked_then_delivered_when_the_call_registers(bridge: Bridge) -> None:
    # Given no call yet for the recipient
    key, event_id = fresh_key(), new_id()

    # When an event asks to be held for a minute
    parked = bridge.post_event(new_event_body(key, hold_seconds=60), event_id=event_id)

    # Then the sender hears 202 parked, and nothing reaches Twilio yet
    assert parked.status == 202, parked.body
    assert parked.json()["status"] == "parked"
    assert parked.json()["expires_at"] > time.time()
    assert bridge.stack.emulator.stats()["udm_requests"] == 0

    # When the call registers, the stream flush delivers it to that call, once
    call_sid = register(bridge, key)
    [message] = wait_for(lambda: bridge.messages_for(event_id))
    assert message["call_sid"] == call_sid
    bridge.stack.settle()
    assert len(bridge.messages_for(event_id)) == 1


def test_parked_events_are_delivered_in_the_order_they_arrived(bridge: Bridge) -> None:
    key = fresh_key()
    ids = [new_id() for _ in range(5)]
    for event_id in ids:
        assert bridge.post_event(new_event_body(key, hold_seconds=60), event_id=event_id).status == 202
    register(bridge, key)
    wait_for(lambda: all(bridge.messages_for(event_id) for event_id in ids))
    order = [event_of(m) for m in bridge.stack.emulator.messages() if event_of(m) in ids]
    assert order == ids


def test_repeat_of_a_parked_event_is_replayed_not_parked_twice(bridge: Bridge) -> None:
    key, event_id = fresh_key(), new_id()
    body = new_event_body(key, hold_seconds=60)
    first = bridge.post_event(body, event_id=event_id)
    again = bridge.post_event(body, event_id=event_id)
    assert again.status == 202
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    register(bridge, key)
    wait_for(lambda: bridge.messages_for(event_id))
    bridge.stack.settle()
    assert len(bridge.messages_for(event_id)) == 1


def test_hold_is_clamped_to_the_deployments_maximum(bridge: Bridge, fresh_runtime: pytest.MonkeyPatch) -> None:
    fresh_runtime.setenv("MAX_HOLD_SECONDS", "30")
    reply = bridge.post_event(new_event_body(fresh_key(), hold_seconds=86400))
    assert reply.status == 202
    assert reply.json()["expires_at"] <= time.time() + 31


def test_deployment_default_hold_parks_events_that_ask_for_nothing(
    bridge: Bridge, fresh_runtime: pytest.MonkeyPatch
) -> None:
    fresh_runtime.setenv("DEFAULT_HOLD_SECONDS", "20")
    assert bridge.post_event(new_event_body(fresh_key())).status == 202


def test_hold_of_zero_is_an_immediate_404(bridge: Bridge) -> None:
    assert bridge.post_event(new_event_body(fresh_key(), hold_seconds=0)).status == 404


def test_parked_event_that_expires_unused_goes_to_the_ledger(bridge: Bridge) -> None:
    # Given an event held for one second, and no call ever
    key, event_id = fresh_key(), new_id()
    body = new_event_body(key, hold_seconds=1)
    assert bridge.post_event(body, event_id=event_id).status == 202

    # When its hold runs out (DynamoDB's TTL removes it, the stream reports it)
    entry = wait_for(lambda: ledger_entry(bridge.stack, event_id), timeout=15)

    # Then the ledger has it as expired, with its payload and times
    assert entry is not None
    assert entry["reason"] == "expired"
    assert entry["recipient"] == key
    assert json.loads(entry["content"])["id"] == event_id
    assert float(entry["failed_at"]) >= float(entry["parked_at"])
    assert bridge.stack.emulator.stats()["udm_requests"] == 0


def test_failing_head_event_holds_the_ones_behind_it(bridge: Bridge) -> None:
    # Given three parked events, and Twilio failing for a while
    key = fresh_key()
    ids = [new_id() for _ in range(3)]
    for event_id in ids:
        bridge.post_event(new_event_body(key, hold_seconds=120), event_id=event_id)
    bridge.stack.emulator.add_fault({"status": 503, "count": 6})

    # When the call registers
    register(bridge, key)

    # Then nothing is posted out of order while the head fails, and all arrive in order once Twilio recovers
    wait_for(lambda: all(bridge.messages_for(event_id) for event_id in ids), timeout=20)
    order = [event_of(m) for m in bridge.stack.emulator.messages() if event_of(m) in ids]
    assert order == ids


def test_two_flushers_deliver_each_parked_event_exactly_once(bridge: Bridge) -> None:
    # Given eight parked events and a live call, with the stream paused so only our flushers run
    key = fresh_key()
    ids = [new_id() for _ in range(8)]
    for event_id in ids:
        bridge.post_event(new_event_body(key, hold_seconds=120), event_id=event_id)
    for poller in bridge.stack.pollers:
        poller.pause()
    try:
        register(bridge, key)
        flusher = bootstrap.flush().flush
        bridge.stack.emulator.add_fault({"latency_ms": 50, "count": 20})

        # When two flushers race over the same recipient
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(lambda _: flusher.flush(key, Deadline(lambda: 20_000)), range(2)))
    finally:
        for poller in bridge.stack.pollers:
            poller.resume()

    # Then each event was posted once, in order
    assert bridge.stack.emulator.stats()["udm_requests"] == 8
    order = [event_of(m) for m in bridge.stack.emulator.messages()]
    assert order == ids


def test_call_that_ended_before_the_flush_sends_the_event_to_the_ledger(bridge: Bridge) -> None:
    # Given a parked event, and a registered call Twilio says has ended
    key, event_id = fresh_key(), new_id()
    bridge.post_event(new_event_body(key, hold_seconds=120), event_id=event_id)
    call = bridge.stack.emulator.create_call(bridge.stack.credentials.account.account_sid, status="completed")

    # When the registration triggers the flush
    bridge.calls("PUT", key, {"call_sid": call["sid"]})

    # Then the event is recorded as undeliverable because the call ended, and the stale call is gone
    entry = wait_for(lambda: ledger_entry(bridge.stack, event_id))
    assert entry is not None
    assert entry["reason"] == "call_ended"
    assert bridge.calls("GET", key).status == 404


def test_twilio_refusing_a_parked_event_records_it_and_delivers_the_next(bridge: Bridge) -> None:
    key = fresh_key()
    refused, fine = new_id(), new_id()
    bridge.post_event(new_event_body(key, hold_seconds=120), event_id=refused)
    bridge.post_event(new_event_body(key, hold_seconds=120), event_id=fine)
    bridge.stack.emulator.add_fault({"status": 400, "code": 21610, "count": 1})
    register(bridge, key)
    entry = wait_for(lambda: ledger_entry(bridge.stack, refused))
    assert entry is not None
    assert entry["reason"] == "twilio_refused"
    assert entry["twilio_code"] == "21610"
    assert wait_for(lambda: bridge.messages_for(fine))
