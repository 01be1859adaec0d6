"""The ingest use case's decisions (parking, freshness, what a delivery is claimed under), on the
in-memory fakes of its ports (no sockets)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import pytest
from helpers import body_key, rfc3339

from bridge.domain.calls import ActiveCall, CallEntry
from bridge.domain.errors import NoActiveCall, StoreUnavailable
from bridge.domain.events import Event
from bridge.domain.inbound import HttpRequest
from bridge.domain.outcomes import Happening, Outcome
from bridge.domain.parking import FlushResult
from bridge.domain.retry import RetryPolicy, Transient
from bridge.sources.profiles import default_profile, load_profiles, parse_profiles
from bridge.usecases.flush import ParkedFlush
from bridge.usecases.ingest import Freshness, Ingest, Parking
from bridge.usecases.udm_out import UdmOut
from local.senders import github_headers, hmac_headers, new_webhook_secret
from local.senders import standard_webhooks_headers as sign
from unit.fakes import (
    FakeFirstSeen,
    FakeLedger,
    FakeParkedStore,
    FakeRegistry,
    FakeSecrets,
    MemoryGate,
    ScriptedUdmSender,
    deadline,
)

SECRET = new_webhook_secret()
KEY = "identity:alice"
HOUR = 3600
FAST = RetryPolicy(max_attempts=2, attempt_timeout=1.0, base_delay=0.001, max_delay=0.002, min_attempt=0.01)


class ScriptedRegistry(FakeRegistry):
    """Answers each read of a key's calls from a script: the registry as seen at each read."""

    def __init__(self, answers: list[ActiveCall | None]) -> None:
        super().__init__()
        self.answers = answers

    def active_call(self, key: str) -> ActiveCall | None:
        return self.answers.pop(0)

    def live_calls(self, key: str) -> list[tuple[str, CallEntry]]:
        call = self.answers.pop(0)
        return [(call.call_sid, CallEntry(started=time.time(), expires_at=call.expires_at))] if call else []


class ScriptedFlush(ParkedFlush):
    """A flush whose result is scripted: what ingest does with it is under test, not the flush."""

    def __init__(self, result: FlushResult | Exception) -> None:
        super().__init__(
            FakeParkedStore(), FakeRegistry(), UdmOut(ScriptedUdmSender(), FAST, FakeRegistry()), FakeLedger()
        )
        self.result = result
        self.flushed: list[str] = []

    def flush(self, recipient: str, deadline: Any) -> FlushResult:
        self.flushed.append(recipient)
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


class RecordingStore(FakeParkedStore):
    def __init__(self) -> None:
        super().__init__()
        self.parked: list[Event] = []

    def park(self, event: Event, content: str, hold_seconds: int, *, recipient: str, cause: str) -> Any:
        self.parked.append(event)
        return super().park(event, content, hold_seconds, recipient=recipient, cause=cause)


def ingest(
    registry: FakeRegistry,
    *,
    sender: ScriptedUdmSender | None = None,
    parking: Parking | None = None,
    ledger: FakeLedger | None = None,
    first_seen: FakeFirstSeen | None = None,
    gate: MemoryGate | None = None,
    profiles: Any = None,
) -> Ingest:
    return Ingest(
        secrets=FakeSecrets({"default": (SECRET,), "github": ("gh",)}),
        profiles=profiles or load_profiles(),
        registry=registry,
        udm_out=UdmOut(sender or ScriptedUdmSender(), FAST, registry),
        idempotency=gate or MemoryGate(),
        max_content_bytes=10_240,
        parking=parking,
        ledger=ledger,
        freshness=Freshness(first_seen=first_seen),
    )


def parked(registry: FakeRegistry, store: RecordingStore, flush: ScriptedFlush, **hold: int) -> Ingest:
    return ingest(registry, parking=Parking(store=store, flush=flush, max_hold_seconds=300, **hold))


def post(svc: Ingest, occurred: float | None = None, **body: Any) -> dict[str, Any]:
    raw = json.dumps({"type": "t", "timestamp": rfc3339(occurred), "to": KEY, "data": {}, **body})
    headers = sign(raw, SECRET, event_id="evt_1")
    return svc.handle(HttpRequest(raw.encode(), headers), deadline()).body()


# -- parking -----------------------------------------------------------------------------------


def test_a_call_registering_while_the_event_parks_is_caught_by_the_recheck() -> None:
    # Given no call at the first read, one at the re-check, and a flush that delivers the event
    delivered = FlushResult()
    delivered.ended.append(Happening(Outcome.FLUSHED, {"event_key": "evt_1", "call_sid": "CA1", "message_sid": "KX1"}))
    registry = ScriptedRegistry([None, ActiveCall(KEY, "CA1", 0)])
    store, flush = RecordingStore(), ScriptedFlush(delivered)

    # When an event asks to be held
    body = post(parked(registry, store, flush), hold_seconds=30)

    # Then it was parked, flushed right away, and the sender hears it was delivered
    assert [event.id for event in store.parked] == ["evt_1"]
    assert flush.flushed == [KEY]
    assert body == {
        "status": "delivered",
        "event_id": "evt_1",
        "call_sid": "CA1",
        "message_sid": "KX1",
        "recipient": KEY,
    }


def test_without_a_call_at_the_recheck_the_event_stays_parked() -> None:
    store, flush = RecordingStore(), ScriptedFlush(FlushResult())
    body = post(parked(ScriptedRegistry([None, None]), store, flush), hold_seconds=30)
    assert body["status"] == "parked"
    assert flush.flushed == []


def test_a_failing_inline_flush_still_answers_parked() -> None:
    store = RecordingStore()
    flush = ScriptedFlush(StoreUnavailable("down"))
    body = post(parked(ScriptedRegistry([None, ActiveCall(KEY, "CA1", 0)]), store, flush), hold_seconds=30)
    assert body["status"] == "parked"


def test_no_hold_means_no_parking() -> None:
    store = RecordingStore()
    with pytest.raises(NoActiveCall):
        post(parked(ScriptedRegistry([None]), store, ScriptedFlush(FlushResult())))
    assert store.parked == []


@pytest.mark.parametrize(
    ("requested", "profile_hold", "default", "expected"),
    [
        (None, None, 0, 0),
        (None, None, 20, 20),
        (None, 45, 20, 45),
        (10, 45, 20, 10),
        (9999, None, 0, 300),
        (0, 45, 20, 0),
    ],
)
def test_hold_comes_from_the_event_then_the_profile_then_the_deployment(
    requested: int | None, profile_hold: int | None, default: int, expected: int
) -> None:
    profile = default_profile()
    if profile_hold is not None:
        profile = parse_profiles(
            {"sources": {"s": {"scheme": "github", "to": "body.to", "hold_seconds": profile_hold}}}
        )["s"]
    flush = ScriptedFlush(FlushResult())
    parking = Parking(store=flush.store, flush=flush, max_hold_seconds=300, default_hold_seconds=default)
    event = Event(id="e", type="t", timestamp=None, to=KEY, data={}, body={}, hold_seconds=requested)
    assert parking.hold_for(event, profile) == expected


# -- freshness ---------------------------------------------------------------------------------


def test_an_event_older_than_the_call_and_its_window_is_stale_and_ledgered() -> None:
    sender, ledger, registry = ScriptedUdmSender(), FakeLedger(), FakeRegistry()
    registry.started(KEY, "CA1", ttl_seconds=HOUR, started=time.time() - 60, leg="CA1", seq=None)
    body = post(ingest(registry, sender=sender, ledger=ledger), time.time() - 2 * HOUR)
    assert body["status"] == "stale"
    assert sender.sent == []
    [entry] = ledger.entries.values()
    assert (entry.reason, entry.event_key, entry.recipient) == ("stale", "evt_1", KEY)


def test_without_an_event_time_the_first_sighting_is_the_event_time() -> None:
    # Given a GitHub delivery (no event time) the bridge first saw two hours ago
    first_seen = FakeFirstSeen(clock=lambda: time.time() - 2 * HOUR)
    registry = FakeRegistry()
    registry.started("identity:octocat", "CA1", ttl_seconds=HOUR, started=time.time() - 60, leg="CA1", seq=None)
    raw = json.dumps({"action": "opened", "sender": {"login": "octocat"}, "repository": {"full_name": "o/r"}})
    headers = github_headers(raw, "gh", delivery="d-1")

    # When it is redelivered to a sender now on a newer call
    svc = ingest(registry, ledger=FakeLedger(), first_seen=first_seen)
    body = svc.handle(HttpRequest(raw.encode(), headers), deadline(), "github").body()

    # Then it is stale, judged by when its signed body was first seen (GitHub signs no timestamp, so
    # the body, not the unsigned delivery ID, is the event: see the replay rule)
    assert body["status"] == "stale"
    assert list(first_seen.seen) == [body_key("github", raw)]


def test_an_event_with_its_own_time_never_asks_when_it_was_first_seen() -> None:
    sender, first_seen, registry = ScriptedUdmSender(), FakeFirstSeen(), FakeRegistry()
    registry.started(KEY, "CA1", ttl_seconds=HOUR, started=time.time() - 60, leg="CA1", seq=None)
    post(ingest(registry, sender=sender, ledger=FakeLedger(), first_seen=first_seen), time.time())
    assert first_seen.seen == {}
    assert [key for _, _, key in sender.sent] == ["evt_1@CA1"]


# -- what a delivery is claimed under ------------------------------------------------------------


def test_hmac_deliveries_without_a_signed_timestamp_are_claimed_under_the_bodys_digest() -> None:
    # Given an hmac source whose signature covers only the body, with an unsigned request-ID header
    profile = {"scheme": "hmac", "hmac": {"header": "X-Sig"}, "event_id": 'headers."x-request-id"'}
    profiles = parse_profiles({"sources": {"desk": {**profile, "type": "body.event", "to": "body.to"}}})
    gate = MemoryGate()
    registry = FakeRegistry()
    registry.register("identity:bob", "CA" + "1" * 32, HOUR)
    svc = Ingest(
        secrets=FakeSecrets({"desk": ("s3cret",)}),
        profiles=profiles,
        registry=registry,
        udm_out=UdmOut(ScriptedUdmSender(), FAST, registry),
        idempotency=gate,
        max_content_bytes=10_240,
    )
    raw = json.dumps({"event": "ticket.created", "to": "identity:bob"}).encode()

    # When the same signed body arrives twice under two request IDs
    for request_id in ("req-1", "req-2"):
        headers = {**hmac_headers(raw, "s3cret", header="x-sig"), "x-request-id": request_id}
        svc.handle(HttpRequest(raw, headers), deadline(), "desk")

    # Then both are claimed under one key, the body's digest: the second is a replay of the first
    assert gate.asked == [body_key("desk", raw)] * 2


# -- several recipients, fanout, throttling, no call -------------------------------------------------


@dataclass
class Desk:
    """An hmac source whose events name their recipients in `to`, on fakes the test can reach."""

    svc: Ingest
    registry: FakeRegistry
    sender: ScriptedUdmSender
    store: FakeParkedStore

    def post(self, to: Any, event_id: str = "e1") -> Any:
        raw = json.dumps({"id": event_id, "t": "ticket.created", "to": to}).encode()
        return self.svc.handle(HttpRequest(raw, hmac_headers(raw, "s3cret", header="x-sig")), deadline(), "desk")


def desk(**profile: Any) -> Desk:
    raw = {"scheme": "hmac", "hmac": {"header": "X-Sig"}, "event_id": "body.id", "type": "body.t", "to": "body.to"}
    registry, store, sender = FakeRegistry(), FakeParkedStore(), ScriptedUdmSender()
    flush = ParkedFlush(store, registry, UdmOut(sender, FAST, registry), FakeLedger())
    svc = Ingest(
        secrets=FakeSecrets({"desk": ("s3cret",)}),
        profiles=parse_profiles({"sources": {"desk": {**raw, **profile}}}),
        registry=registry,
        udm_out=UdmOut(sender, FAST, registry),
        idempotency=MemoryGate(),
        max_content_bytes=10_240,
        parking=Parking(store=store, flush=flush, max_hold_seconds=300),
    )
    return Desk(svc, registry, sender, store)


def test_with_fanout_all_every_live_call_of_a_key_gets_the_event_once() -> None:
    world = desk(fanout="all")
    world.registry.register("phone:+15550001111", "CA1", HOUR)
    world.registry.register("phone:+15550001111", "CA2", HOUR)
    result = world.post("phone:+15550001111")
    assert sorted(d.call_sid for d in result.deliveries) == ["CA1", "CA2"]
    assert sorted(key for _, _, key in world.sender.sent) == ["desk:e1@CA1", "desk:e1@CA2"]


def test_with_fanout_latest_only_the_newest_call_of_a_key_gets_it() -> None:
    world = desk()
    world.registry.register("identity:a", "CA1", HOUR)
    time.sleep(0.01)
    world.registry.register("identity:a", "CA2", HOUR)
    assert world.post("identity:a").call_sid == "CA2"


def test_a_named_source_answers_no_call_with_a_2xx_unless_it_rejects() -> None:
    assert desk().post("identity:nobody").outcome == "no_active_call"
    with pytest.raises(NoActiveCall):
        desk(no_call="reject").post("identity:nobody")


def test_twilio_throttling_past_the_budget_parks_the_event_for_its_call() -> None:
    world = desk()
    world.registry.register("identity:a", "CA1", HOUR)
    world.sender.failing["desk:e1@CA1"] = Transient("twilio answered 429")
    result = world.post("identity:a")
    assert (result.outcome, result.call_sid) == ("parked", "CA1")
    [parked] = world.store.pending("identity:a")
    assert parked.cause == "throttled"
