"""The ingest use case's parking decisions, with in-memory stand-ins for its ports (no sockets)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from helpers import rfc3339

from bridge.errors import NoActiveCall, StoreUnavailable
from bridge.ingest import IngestService, Parking
from bridge.model import ActiveCall, Event, FlushResult, HttpRequest, ParkedEvent
from bridge.sources import default_profile, parse_profiles
from local.lambda_runtime import LocalContext
from local.senders import new_webhook_secret
from local.senders import standard_webhooks_headers as sign

SECRET = new_webhook_secret()
KEY = "identity:alice"


@dataclass
class ScriptedRegistry:
    """Answers active_call from a script: the registry as seen at each read."""

    answers: list[ActiveCall | None]

    def active_call(self, key: str) -> ActiveCall | None:
        return self.answers.pop(0)


@dataclass
class RecordingStore:
    parked: list[Event] = field(default_factory=list)

    def park(self, event: Event, content: str, hold_seconds: int) -> ParkedEvent:
        self.parked.append(event)
        return ParkedEvent(KEY, "0#k", event.key, event.id, event.source, content, 0.0, 1000 + hold_seconds)


@dataclass
class ScriptedFlusher:
    result: FlushResult | Exception
    flushed: list[str] = field(default_factory=list)

    def flush(self, recipient: str, deadline: Any) -> FlushResult:
        self.flushed.append(recipient)
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


class PassThroughGate:
    def run(self, key: str, body: Any, function: Any, context: Any) -> tuple[dict[str, Any], bool]:
        return function(), False


class NoDispatch:
    def send(self, *args: Any) -> Any:
        raise AssertionError("no call was active, nothing may be posted directly")


def service(
    registry: ScriptedRegistry, store: RecordingStore, flusher: ScriptedFlusher, **parking: int
) -> IngestService:
    return IngestService(
        secrets=lambda: {"default": (SECRET,)},
        profiles={"default": default_profile()},
        registry=registry,  # type: ignore[arg-type]
        dispatcher=NoDispatch(),  # type: ignore[arg-type]
        idempotency=PassThroughGate(),  # type: ignore[arg-type]
        max_content_bytes=10_240,
        parking=Parking(store=store, flusher=flusher, max_hold_seconds=300, **parking),  # type: ignore[arg-type]
    )


def post(svc: IngestService, **body: Any) -> dict[str, Any]:
    raw = json.dumps({"type": "t", "timestamp": rfc3339(), "to": KEY, "data": {}, **body})
    headers = sign(raw, SECRET, event_id="evt_1")
    return svc.handle(HttpRequest(raw.encode(), headers), LocalContext("IngestFunction")).body


def test_a_call_registering_while_the_event_parks_is_caught_by_the_recheck() -> None:
    # Given no call at the first read, one at the re-check, and a flush that delivers the event
    delivered = FlushResult(delivered={"evt_1": ("CA1", "KX1")})
    registry = ScriptedRegistry([None, ActiveCall(KEY, "CA1", 0)])
    store, flusher = RecordingStore(), ScriptedFlusher(delivered)

    # When an event asks to be held
    body = post(service(registry, store, flusher), hold_seconds=30)

    # Then it was parked, flushed right away, and the sender hears it was delivered
    assert [event.id for event in store.parked] == ["evt_1"]
    assert flusher.flushed == [KEY]
    assert body == {"status": "delivered", "event_id": "evt_1", "call_sid": "CA1", "message_sid": "KX1"}


def test_without_a_call_at_the_recheck_the_event_stays_parked() -> None:
    store, flusher = RecordingStore(), ScriptedFlusher(FlushResult())
    body = post(service(ScriptedRegistry([None, None]), store, flusher), hold_seconds=30)
    assert body["status"] == "parked"
    assert flusher.flushed == []


def test_a_failing_inline_flush_still_answers_parked() -> None:
    store = RecordingStore()
    flusher = ScriptedFlusher(StoreUnavailable("down"))
    body = post(service(ScriptedRegistry([None, ActiveCall(KEY, "CA1", 0)]), store, flusher), hold_seconds=30)
    assert body["status"] == "parked"


def test_no_hold_means_no_parking() -> None:
    store = RecordingStore()
    with pytest.raises(NoActiveCall):
        post(service(ScriptedRegistry([None]), store, ScriptedFlusher(FlushResult())))
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
    parking = Parking(store=None, flusher=None, max_hold_seconds=300, default_hold_seconds=default)  # type: ignore[arg-type]
    event = Event(id="e", type="t", timestamp=None, to=KEY, data={}, body={}, hold_seconds=requested)
    assert parking.hold_for(event, profile) == expected
