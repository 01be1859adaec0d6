"""The ingest use case: profile -> verify -> parse -> extract (or ignore) -> content -> claim || look up
-> fresh enough for the call? -> deliver, park, or stale.

It knows nothing about boto3, twilio or API Gateway: those sit behind the ports it is given.
It returns an EventResult; the entry point answers, logs and counts it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

from bridge.domain.errors import BridgeError, CallNotActive, NoActiveCall, UnknownSource
from bridge.domain.events import DEFAULT_SOURCE
from bridge.domain.freshness import DEFAULT_CLOCK_SKEW_SECONDS, event_time, iso, latest_call_start
from bridge.domain.inbound import signed_url
from bridge.domain.outcomes import Happening, Outcome, stale_mapping_removed
from bridge.domain.parking import Undelivered
from bridge.observability import logger
from bridge.sources.cards import content_for
from bridge.sources.profiles import Ignored
from bridge.sources.signatures import Verifier, VerifierFactory, verifier_for

if TYPE_CHECKING:
    from bridge.domain.calls import ActiveCall
    from bridge.domain.events import Event
    from bridge.domain.inbound import HttpRequest
    from bridge.domain.retry import Deadline
    from bridge.ports import CallRegistry, FirstSeen, IdempotencyGate, Ledger, ParkedStore, WebhookSecrets
    from bridge.sources.profiles import Profile
    from bridge.usecases.flush import ParkedFlush
    from bridge.usecases.udm_out import UdmOut


@dataclass(frozen=True)
class EventResult:
    """What became of one event: delivered, parked, stale or ignored. `body()` is the sender's answer
    (and what a retry is answered again); `also` is what happened beside it, for the logs."""

    outcome: Outcome
    event_id: str
    source: str | None = None  # a named source; the default source stays unnamed
    call_sid: str | None = None
    message_sid: str | None = None
    recipient: str | None = None
    expires_at: int | None = None
    reason: str | None = None
    type: str | None = None
    detail: str | None = None
    replayed: bool = False
    also: tuple[Happening, ...] = ()
    # What the Content left out (JSON pointers, never values): the log line's, not the sender's.
    redacted: tuple[str, ...] = ()
    truncated: bool = False

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": str(self.outcome)}
        for name in _BODY_FIELDS:
            value = getattr(self, name)
            if value is not None:
                body[name] = value
        return body

    @classmethod
    def from_body(cls, body: Mapping[str, Any], *, replayed: bool) -> EventResult:
        return cls(
            outcome=Outcome(body["status"]),
            event_id=str(body["event_id"]),
            source=body.get("source"),
            call_sid=body.get("call_sid"),
            message_sid=body.get("message_sid"),
            recipient=body.get("recipient"),
            expires_at=body.get("expires_at"),
            reason=body.get("reason"),
            type=body.get("type"),
            detail=body.get("detail"),
            replayed=replayed,
        )

    def fields(self) -> dict[str, Any]:
        """The log line's fields."""
        logged = {**{name: getattr(self, name) for name in _BODY_FIELDS}, "replayed": self.replayed}
        if self.redacted:
            logged["redacted"] = list(self.redacted)
        if self.truncated:
            logged["truncated"] = True
        return logged


_NOT_IN_BODY = ("outcome", "replayed", "also", "redacted", "truncated")
_BODY_FIELDS = tuple(f.name for f in fields(EventResult) if f.name not in _NOT_IN_BODY)


@dataclass(frozen=True)
class Freshness:
    """Which call an event may reach: see freshness.latest_call_start. The event time is the one the
    event states, or, for a source that states none, when the bridge first saw it."""

    first_seen: FirstSeen | None = None
    skew_seconds: int = DEFAULT_CLOCK_SKEW_SECONDS
    clock: Callable[[], float] = time.time


@dataclass(frozen=True)
class Parking:
    """How long an event may wait for its recipient's call."""

    store: ParkedStore
    flush: ParkedFlush
    max_hold_seconds: int
    default_hold_seconds: int = 0

    def hold_for(self, event: Event, profile: Profile) -> int:
        requested = event.hold_seconds
        if requested is None:
            requested = profile.hold_seconds
        if requested is None:
            requested = self.default_hold_seconds
        return max(0, min(requested, self.max_hold_seconds))


class Ingest:
    def __init__(
        self,
        *,
        secrets: WebhookSecrets,
        profiles: Mapping[str, Profile],
        registry: CallRegistry,
        udm_out: UdmOut,
        idempotency: IdempotencyGate,
        max_content_bytes: int,
        parking: Parking | None = None,
        ledger: Ledger | None = None,
        freshness: Freshness | None = None,
        public_base_url: str | None = None,
        verifiers: Mapping[str, VerifierFactory] | None = None,
    ) -> None:
        self._secrets = secrets
        self._profiles = profiles
        self._registry = registry
        self._udm_out = udm_out
        self._idempotency = idempotency
        self._max_content_bytes = max_content_bytes
        self._parking = parking
        self._ledger = ledger
        self._freshness = freshness or Freshness()
        self._public_base_url = public_base_url
        self._verifier_factories = verifiers or {}
        self._verifiers: dict[str, tuple[tuple[str, ...], Verifier]] = {}
        # The registry read (and the first-seen record) and the idempotency claim don't depend on
        # each other: overlap them.
        self._lookahead = ThreadPoolExecutor(max_workers=4, thread_name_prefix="registry")

    def handle(self, request: HttpRequest, deadline: Deadline, source: str = DEFAULT_SOURCE) -> EventResult:
        profile = self._profiles.get(source)
        if profile is None:
            raise UnknownSource(f"No source is called {source!r}.", source=source)
        # Authenticity first: nothing about the body is looked at or revealed before it.
        url = signed_url(request, self._public_base_url)
        self._verifier(profile).verify(request.body, request.headers, url=url, method=request.method)
        logger.set_correlation_id(profile.delivery_id(request.headers))

        body = profile.parse_body(request.headers.get("content-type", ""), request.body)
        event = profile.extract(request.headers, body)
        if isinstance(event, Ignored):
            return _ignored(event)
        dedupe_id = profile.dedupe_id(request.body)
        if dedupe_id is not None:
            event = replace(event, dedupe_id=dedupe_id)
        logger.set_correlation_id(event.key)
        card = content_for(event, self._max_content_bytes)
        content = card.text
        hold = self._parking.hold_for(event, profile) if self._parking else 0

        call = self._lookahead.submit(self._registry.active_call, event.to)
        stated = event_time(event.timestamp)
        first_seen = self._freshness.first_seen
        seen = self._lookahead.submit(first_seen.first_seen, event.key) if stated is None and first_seen else None
        delivered: list[EventResult] = []

        def deliver() -> dict[str, Any]:
            result = self._deliver(event, content, deadline, hold, call, self._latest_start(stated, seen, hold))
            delivered.append(result)
            return result.body()

        answer, replayed = self._idempotency.run(event.key, event.body, deliver, deadline)
        if delivered and not replayed:
            return replace(delivered[0], redacted=card.redacted, truncated=card.truncated)
        return EventResult.from_body(answer, replayed=replayed)

    def _latest_start(self, stated: float | None, seen: Future[float] | None, hold: int) -> Callable[[], float]:
        """When the recipient's call must have started, at the latest, for this event to reach it."""

        def latest() -> float:
            now = self._freshness.clock()
            occurred = stated if stated is not None else seen.result() if seen is not None else now
            # Nothing happens after the bridge sees it: a future time can't hold the window open.
            return latest_call_start(min(occurred, now), hold, self._freshness.skew_seconds)

        return latest

    def _deliver(
        self,
        event: Event,
        content: str,
        deadline: Deadline,
        hold: int,
        lookup: Future[ActiveCall | None],
        latest_start: Callable[[], float],
    ) -> EventResult:
        call = lookup.result()
        latest = latest_start()
        if call is None:
            return self._wait_or_refuse(event, content, deadline, hold, latest)
        if call.started is not None and call.started > latest:
            # A different conversation: the event is older than the call and its window closed.
            detail = f"the recipient's call started after {iso(latest)}, the latest start this event allows"
            return self._stale(event, content, detail)
        try:
            sent = self._udm_out.send(event.to, call.call_sid, content, event.key, deadline)
        except CallNotActive as gone:
            # The mapping was stale (the delivery ended it): the event may still wait for a call.
            removed = stale_mapping_removed(event.to, gone.call_sid, gone.twilio_code)
            return self._wait_or_refuse(
                event, content, deadline, hold, latest, (removed,) if gone.mapping_removed else ()
            )
        return _delivered(event, sent.call_sid, sent.message_sid)

    def _wait_or_refuse(
        self,
        event: Event,
        content: str,
        deadline: Deadline,
        hold: int,
        latest: float,
        happened: tuple[Happening, ...] = (),
    ) -> EventResult:
        """No call now: any call to come starts from now on, so past `latest` none ever qualifies."""
        remaining = latest - self._freshness.clock()
        try:
            if remaining < 0:
                result = self._stale(event, content, f"no call of the recipient started by {iso(latest)}")
            else:
                # Parked no longer than a call may start and still receive it.
                result = self._park_or_refuse(event, content, deadline, min(hold, max(1, math.ceil(remaining))))
        except NoActiveCall as refused:
            refused.happened.extend(happened)
            raise
        return replace(result, also=happened + result.also)

    def _stale(self, event: Event, content: str, detail: str) -> EventResult:
        """Too old for any call the recipient is or will be on: a 2xx, since no retry can help, and a
        ledger entry an operator can replay deliberately (`udm-bridge events replay --to`)."""
        if self._ledger is not None:
            now = self._freshness.clock()
            undelivered = Undelivered(event.key, event.id, event.source, event.to, content, now)
            self._ledger.record(undelivered.failed(Outcome.STALE, detail, now=now))
        return EventResult(Outcome.STALE, event.id, event.named_source, recipient=event.to, detail=detail)

    def _park_or_refuse(self, event: Event, content: str, deadline: Deadline, hold: int) -> EventResult:
        if self._parking is None or hold <= 0:
            raise NoActiveCall(f"{event.to} has no active call.", recipient=event.to)
        parked = self._parking.store.park(event, content, hold)
        also: tuple[Happening, ...] = ()
        # The call may have registered while this event parked, and its flush may have missed it.
        if self._registry.active_call(event.to) is not None:
            try:
                flushed = self._parking.flush.flush(event.to, deadline)
            except BridgeError as error:
                # Accepted all the same: the event is parked and the next flush takes it.
                logger.warning("inline flush stopped", recipient=event.to, reason=error.code)
                also = tuple(error.happened)
            else:
                also = tuple(flushed.ended)
                if event.key in flushed.delivered:
                    call_sid, message_sid = flushed.delivered[event.key]
                    return replace(_delivered(event, call_sid, message_sid), also=also)
        return EventResult(
            Outcome.PARKED,
            event.id,
            event.named_source,
            recipient=event.to,
            expires_at=parked.expires_at,
            also=also,
        )

    def _verifier(self, profile: Profile) -> Verifier:
        # Rebuilt only when the source's secrets change (rotation).
        secrets = tuple(self._secrets().get(profile.name, ()))
        cached = self._verifiers.get(profile.name)
        if cached is None or cached[0] != secrets:
            cached = (secrets, verifier_for(profile, secrets, self._verifier_factories))
            self._verifiers[profile.name] = cached
        return cached[1]


def _ignored(ignored: Ignored) -> EventResult:
    source = None if ignored.source == DEFAULT_SOURCE else ignored.source
    return EventResult(
        Outcome.IGNORED, ignored.event_id, source, reason=ignored.reason, type=ignored.type, detail=ignored.detail
    )


def _delivered(event: Event, call_sid: str, message_sid: str) -> EventResult:
    return EventResult(Outcome.DELIVERED, event.id, event.named_source, call_sid=call_sid, message_sid=message_sid)
