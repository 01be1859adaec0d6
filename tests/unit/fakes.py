"""In-memory fakes of every port in bridge.ports, for unit tests of the use cases (no sockets).

Each one satisfies its Protocol as mypy checks it (`make typecheck` checks this file), so a port
that changes breaks its fake loudly instead of a test passing against a stale stand-in.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from bridge.domain.call_message import Claim
from bridge.domain.calls import ActiveCall, CallEntry, CallState, Change, SentMessage
from bridge.domain.errors import CallMismatch, CallNotFound, InvalidTwilioSignature
from bridge.domain.parking import CLAIMED, PARKED, LedgerEntry, MalformedEntry, ParkedEvent
from bridge.domain.retry import Deadline

if TYPE_CHECKING:
    from bridge import ports
    from bridge.domain.events import Event
    from bridge.domain.inbound import FormParams


class Clock:
    """A clock tests move by hand."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def deadline(seconds: float = 30.0) -> Deadline:
    """A deadline that never runs out during a unit test."""
    return Deadline(lambda: int(seconds * 1000), reserve=0.0)


class FakeRegistry:
    """The CallRegistry: the domain's own CallState per key, without storage."""

    def __init__(self, clock: Callable[[], float] = time.time, tombstone_seconds: int = 4 * 3600) -> None:
        self.states: dict[str, CallState] = {}
        self._clock = clock
        self._tombstone_seconds = tombstone_seconds

    def active_call(self, key: str) -> ActiveCall | None:
        state = self.states.get(key)
        found = state.active(self._clock()) if state else None
        if found is None:
            return None
        sid, entry = found
        return ActiveCall(key=key, call_sid=sid, expires_at=entry.expires_at, started=entry.started)

    def live_calls(self, key: str) -> list[tuple[str, CallEntry]]:
        state = self.states.get(key)
        return state.live(self._clock()) if state else []

    def register(self, key: str, call_sid: str, ttl_seconds: int) -> ActiveCall:
        now = self._clock()
        self._mutate(key, lambda state: state.start(call_sid, now=now, ttl_seconds=ttl_seconds, explicit=True))
        return ActiveCall(key=key, call_sid=call_sid, expires_at=int(now) + ttl_seconds, started=now)

    def started(
        self, key: str, call_sid: str, *, ttl_seconds: int, started: float | None, leg: str, seq: int | None
    ) -> Change:
        now = self._clock()
        return self._mutate(
            key,
            lambda state: state.start(call_sid, now=now, ttl_seconds=ttl_seconds, started=started, leg=leg, seq=seq),
        )

    def ended(self, key: str, call_sid: str) -> Change:
        now = self._clock()
        return self._mutate(key, lambda state: state.finish(call_sid, now=now))

    def remove(self, key: str, call_sid: str | None = None) -> None:
        live = dict(self.live_calls(key))
        if not live:
            raise CallNotFound(f"No call is registered for {key}.")
        if call_sid is not None and call_sid not in live:
            raise CallMismatch(f"{call_sid} is not a live call of {key}.")
        now = self._clock()
        targets = [call_sid] if call_sid is not None else list(live)
        self._mutate(key, lambda state: any([state.finish(sid, now=now) for sid in targets]))

    def forget_stale(self, key: str, call_sid: str) -> bool:
        return self.ended(key, call_sid).changed

    def _mutate(self, key: str, change: Callable[[CallState], bool]) -> Change:
        now = self._clock()
        state = self.states.setdefault(key, CallState())
        state.prune(now, self._tombstone_seconds)
        changed = change(state)
        if changed:
            state.version += 1
        active = state.active(now)
        return Change(changed=changed, active=active[0] if active else None)


class FakeParkedStore:
    """The ParkedStore: events by recipient in arrival order, with leased claims."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.events: dict[str, list[ParkedEvent]] = {}
        self.tokens: dict[str, str] = {}  # arrival -> the claim token holding it
        self._clock = clock
        self._arrivals = 0

    def park(
        self, event: Event, content: str, hold_seconds: int, *, recipient: str, cause: str, not_before: float = 0.0
    ) -> ParkedEvent:
        now = self._clock()
        self._arrivals += 1
        parked = ParkedEvent(
            recipient=recipient,
            arrival=f"{self._arrivals:020d}#{event.key}",
            event_key=event.key,
            event_id=event.id,
            source=event.source,
            content=content,
            parked_at=now,
            expires_at=int(now) + hold_seconds,
            cause=cause,
            shared=len(event.recipients) > 1,
            not_before=not_before,
        )
        self.events.setdefault(recipient, []).append(parked)
        return parked

    def pending(self, recipient: str) -> list[ParkedEvent]:
        return list(self.events.get(recipient, []))

    def claim(self, event: ParkedEvent, token: str) -> bool:
        current = self._find(event)
        if current is None or (current.state == CLAIMED and current.lease_until >= self._clock()):
            return False
        self._put(replace(current, state=CLAIMED, lease_until=self._clock() + 60, attempts=current.attempts + 1))
        self.tokens[event.arrival] = token
        return True

    def release(self, event: ParkedEvent, token: str) -> None:
        current = self._find(event)
        if current is not None and self.tokens.get(event.arrival) == token:
            self._put(replace(current, state=PARKED, lease_until=0.0))
            del self.tokens[event.arrival]

    def remove(self, event: ParkedEvent, token: str | None) -> bool:
        current = self._find(event)
        if current is None:
            return False
        if token is not None and self.tokens.get(event.arrival) != token:
            return False
        if token is None and current.state != PARKED:
            return False
        self.events[event.recipient] = [e for e in self.events[event.recipient] if e.arrival != event.arrival]
        self.tokens.pop(event.arrival, None)
        return True

    def _find(self, event: ParkedEvent) -> ParkedEvent | None:
        return next((e for e in self.events.get(event.recipient, []) if e.arrival == event.arrival), None)

    def _put(self, event: ParkedEvent) -> None:
        self.events[event.recipient] = [
            event if e.arrival == event.arrival else e for e in self.events[event.recipient]
        ]


@dataclass
class FakeLedger:
    entries: dict[str, LedgerEntry] = field(default_factory=dict)

    def record(self, entry: LedgerEntry) -> None:
        self.entries[entry.event_key] = entry

    def get(self, event_key: str) -> LedgerEntry | MalformedEntry | None:
        return self.entries.get(event_key)

    def failed_since(
        self, since: float, *, include_replayed: bool = False
    ) -> tuple[list[LedgerEntry], list[MalformedEntry]]:
        found = [e for e in self.entries.values() if e.failed_at >= since]
        return [e for e in found if include_replayed or e.replayed_at is None], []

    def mark_replayed(self, event_key: str, message_sid: str) -> None:
        self.entries[event_key] = replace(
            self.entries[event_key], replayed_at=time.time(), replay_message_sid=message_sid
        )

    @property
    def reasons(self) -> dict[str, str]:
        return {key: entry.reason for key, entry in self.entries.items()}


@dataclass
class FakeFirstSeen:
    clock: Callable[[], float] = time.time
    seen: dict[str, float] = field(default_factory=dict)

    def first_seen(self, event_key: str) -> float:
        return self.seen.setdefault(event_key, self.clock())


@dataclass
class MemoryGate:
    """The IdempotencyGate: the first result per key is kept and replayed."""

    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    def run(
        self, key: str, body: Any, function: Callable[[], dict[str, Any]], deadline: Deadline
    ) -> tuple[dict[str, Any], bool]:
        self.asked.append(key)
        if key in self.results:
            return dict(self.results[key]), True
        result = function()
        self.results[key] = dict(result)
        return result, False


@dataclass
class FakeSecrets:
    by_source: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __call__(self) -> Mapping[str, Sequence[str]]:
        return self.by_source


@dataclass
class ScriptedUdmSender:
    """The UdmSender: answers each attempt from a script (an exception is raised), then succeeds;
    a key in `failing` fails every attempt with its exception."""

    script: list[Exception] = field(default_factory=list)
    failing: dict[str, Exception] = field(default_factory=dict)
    sent: list[tuple[str, str, str]] = field(default_factory=list)  # (call sid, content, idempotency key)

    def send(self, call_sid: str, content: str, idempotency_key: str, timeout: float) -> SentMessage:
        if idempotency_key in self.failing:
            raise self.failing[idempotency_key]
        if self.script:
            raise self.script.pop(0)
        self.sent.append((call_sid, content, idempotency_key))
        return SentMessage(message_sid=f"KX{len(self.sent):032x}", call_sid=call_sid)


@dataclass
class ScriptedSubscriber:
    script: list[Exception] = field(default_factory=list)
    subscribed: list[tuple[str, str, str]] = field(default_factory=list)

    def subscribe(self, call_sid: str, callback_url: str, idempotency_key: str, timeout: float) -> str:
        if self.script:
            raise self.script.pop(0)
        self.subscribed.append((call_sid, callback_url, idempotency_key))
        return f"MR{len(self.subscribed):032x}"


@dataclass
class FakeCallOwners:
    owners: dict[str, str] = field(default_factory=dict)
    subscriptions: dict[str, str] = field(default_factory=dict)

    def claim(self, call_sid: str, key: str, expires_at: int) -> bool:
        self.owners.setdefault(call_sid, key)
        return call_sid not in self.subscriptions

    def owner(self, call_sid: str) -> str | None:
        return self.owners.get(call_sid)

    def subscribed(self, call_sid: str, subscription_sid: str) -> None:
        self.subscriptions[call_sid] = subscription_sid


@dataclass
class FakeMessageClaims:
    """The MessageClaims: each Sid's state, token and lease, on a clock tests move."""

    clock: Callable[[], float] = time.time
    claims: dict[str, tuple[Claim, str, float]] = field(default_factory=dict)
    fail_marking: Exception | None = None

    def claim(self, sid: str, token: str, lease_until: float) -> Claim:
        held = self.claims.get(sid)
        if held is not None and held[0] is Claim.QUEUED:
            return Claim.QUEUED
        if held is not None and held[2] >= self.clock():
            return Claim.BUSY
        self.claims[sid] = (Claim.CLAIMED, token, lease_until)
        return Claim.CLAIMED

    def queued(self, sid: str, token: str) -> None:
        if self.fail_marking is not None:
            raise self.fail_marking
        held = self.claims.get(sid)
        if held is not None and held[1] == token:
            self.claims[sid] = (Claim.QUEUED, token, held[2])

    def release(self, sid: str, token: str) -> None:
        held = self.claims.get(sid)
        if held is not None and held[0] is Claim.CLAIMED and held[1] == token:
            del self.claims[sid]


@dataclass
class FakeQueue:
    """The CallMessageQueue; each exception in `failures` fails one enqueue."""

    bodies: list[str] = field(default_factory=list)
    failures: list[Exception] = field(default_factory=list)

    def enqueue(self, body: str) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.bodies.append(body)


@dataclass
class ScriptedWebhookSender:
    """The WebhookSender: each attempt's answer from a script (an exception is raised), then 200."""

    script: list[Exception | int] = field(default_factory=list)
    sent: list[tuple[str, str]] = field(default_factory=list)

    def send(self, webhook_id: str, body: str, timeout: float) -> int:
        self.sent.append((webhook_id, body))
        answer = self.script.pop(0) if self.script else 200
        if isinstance(answer, Exception):
            raise answer
        return answer


@dataclass
class FakeTwilioSignatures:
    """The TwilioSignatures port: a request is signed when its signature is `valid`."""

    valid: str = "valid-signature"
    checked: list[tuple[str, FormParams | str]] = field(default_factory=list)

    def verify(self, url: str, signed: FormParams | str, signature: str, settings: str | None) -> None:
        self.checked.append((url, signed))
        if signature != self.valid:
            raise InvalidTwilioSignature("The X-Twilio-Signature does not match.")


# mypy checks each fake against its port: a port that changes breaks its fake here.
if TYPE_CHECKING:
    _registry: ports.CallRegistry = FakeRegistry()
    _store: ports.ParkedStore = FakeParkedStore()
    _ledger: ports.Ledger = FakeLedger()
    _first_seen: ports.FirstSeen = FakeFirstSeen()
    _gate: ports.IdempotencyGate = MemoryGate()
    _secrets: ports.WebhookSecrets = FakeSecrets()
    _sender: ports.UdmSender = ScriptedUdmSender()
    _subscriber: ports.Subscriber = ScriptedSubscriber()
    _owners: ports.CallOwners = FakeCallOwners()
    _queue: ports.CallMessageQueue = FakeQueue()
    _claims: ports.MessageClaims = FakeMessageClaims()
    _webhooks: ports.WebhookSender = ScriptedWebhookSender()
    _signatures: ports.TwilioSignatures = FakeTwilioSignatures()
