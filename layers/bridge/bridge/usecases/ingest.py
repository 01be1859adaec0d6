"""The ingest use case: a sender's webhook -> a UDM on each live call of its recipients.

profile -> verify (signed parts only) -> parse -> for each event of a batch (or the one event):
ping? -> claim (its signed ID, or its signed body's digest) || read, content, look up recipients ->
for each recipient's live call: fresh enough? -> deliver (retry budget, the sender's deadline);
Twilio throttling past the budget, or no call yet: park; else stale or no_active_call. One typed
result per event; the entry point answers, logs and counts it.

It knows nothing about boto3, twilio or API Gateway: those sit behind the ports it is given.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from bridge.domain.errors import (
    BridgeError,
    CallNotActive,
    NoActiveCall,
    TwilioUnavailable,
    UnknownSource,
)
from bridge.domain.events import DEFAULT_SOURCE, delivery_key
from bridge.domain.freshness import DEFAULT_CLOCK_SKEW_SECONDS, event_time, iso, latest_call_start
from bridge.domain.inbound import signed_url
from bridge.domain.outcomes import Happening, Outcome, stale_mapping_removed
from bridge.domain.parking import NO_CALL, THROTTLED, Undelivered
from bridge.domain.records import Record
from bridge.observability import logger
from bridge.sources.cards import content_for
from bridge.sources.profiles import COMPLIANCE, Ignored, canonical_json
from bridge.sources.signatures import Verifier, VerifierFactory, verifier_for
from bridge.usecases.ingest_results import BatchResult, Delivery, EventResult, Refused, Unsettled

if TYPE_CHECKING:
    from bridge.domain.calls import CallEntry
    from bridge.domain.cards import Content
    from bridge.domain.events import Event
    from bridge.domain.inbound import HttpRequest
    from bridge.domain.retry import Deadline
    from bridge.ports import CallRegistry, FirstSeen, IdempotencyGate, Ledger, ParkedStore, WebhookSecrets
    from bridge.sources.profiles import Profile
    from bridge.usecases.flush import ParkedFlush
    from bridge.usecases.udm_out import UdmOut

# The events of a batch are handled this many at a time, inside the sender's deadline.
BATCH_PARALLELISM = 8


class Freshness(Record):
    """Which call an event may reach: see freshness.latest_call_start. The event time is the one the
    event states, or, for a source that states none, when the bridge first saw it."""

    first_seen: FirstSeen | None = None
    skew_seconds: int = DEFAULT_CLOCK_SKEW_SECONDS
    clock: Callable[[], float] = time.time


class Parking(Record):
    """How long an event may wait for its recipient's call, or for Twilio to stop throttling."""

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


class _Plan(Record):
    """One event, read and ready: its content, its hold, its recipients' calls (being looked up)
    and the latest a call may have started and still receive it."""

    event: Event
    card: Content
    hold: int
    fanout: str
    lookups: Mapping[str, Future[list[tuple[str, CallEntry]]]]
    latest_start: Callable[[], float]
    reject_no_call: bool

    @property
    def content(self) -> str:
        return self.card.text


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
        # Registry reads (and first-seen records) don't depend on the claim: they overlap it.
        self._lookahead = ThreadPoolExecutor(max_workers=8, thread_name_prefix="lookahead")
        self._batches = ThreadPoolExecutor(max_workers=BATCH_PARALLELISM, thread_name_prefix="batch")

    def handle(
        self, request: HttpRequest, deadline: Deadline, source: str = DEFAULT_SOURCE
    ) -> EventResult | BatchResult:
        profile = self._profiles.get(source)
        if profile is None:
            raise UnknownSource(f"No source is called {source!r}.", source=source)
        deadline = deadline.within(profile.deadline_seconds)
        # Authenticity first: nothing about the body is looked at or revealed before it.
        url = signed_url(request, self._public_base_url)
        self._verifier(profile).verify(request.body, request.headers, url=url, method=request.method)
        logger.set_correlation_id(profile.delivery_id(request.headers))
        body = profile.parse_body(request.headers.get("content-type", ""), request.body)
        items = profile.items(body)
        if profile.batch is None:
            return self._one(profile, request.headers, items[0], deadline)
        futures = [
            self._batches.submit(self._element, profile, request.headers, item, index, deadline)
            for index, item in enumerate(items)
        ]
        return BatchResult(profile.name, tuple(future.result() for future in futures))

    def _element(
        self, profile: Profile, headers: Mapping[str, str], item: Any, index: int, deadline: Deadline
    ) -> EventResult | Refused | Unsettled:
        """One event of a batch: its own outcome, whatever the others'."""
        try:
            return self._one(profile, headers, item, deadline)
        except BridgeError as error:
            if error.status >= 500 or error.status == 409:
                return Unsettled(index, error.code, error.detail, error.retry_after)
            errors = tuple(error.extensions.get("errors", ()))
            return Refused(index, error.code, error.detail, errors)

    def _one(self, profile: Profile, headers: Mapping[str, str], item: Any, deadline: Deadline) -> EventResult:
        ping = profile.ping(headers, item)
        if ping is not None:
            return _ignored(ping)
        claim = profile.claim(headers, item)
        logger.set_correlation_id(claim.key)
        read = profile.read(headers, item)
        if isinstance(read, Ignored):
            if claim.dedupe_id is None and read.reason != COMPLIANCE:
                return _ignored(read)  # a signed ID and type: the answer is the same however often
            answered, replayed = self._idempotency.run(
                claim.key, claim.payload, lambda: self._acknowledge(read, claim.key, item).body(), deadline
            )
            return EventResult.from_body(answered, replayed=replayed)
        plan = self._plan(profile, replace(read, dedupe_id=claim.dedupe_id))
        results: list[EventResult] = []

        def deliver() -> dict[str, Any]:
            result = self._route(plan, deadline)
            results.append(result)
            return result.body()

        answered, replayed = self._idempotency.run(claim.key, claim.payload, deliver, deadline)
        if results and not replayed:
            return results[0]
        return EventResult.from_body(answered, replayed=replayed)

    def _acknowledge(self, ignored: Ignored, key: str, item: Any) -> EventResult:
        """An ignored delivery; a compliance request also leaves one ledger entry, for an operator."""
        if ignored.reason == COMPLIANCE and self._ledger is not None:
            now = self._freshness.clock()
            undelivered = Undelivered(key, ignored.event_id or key, ignored.source, "", canonical_json(item), now)
            self._ledger.record(undelivered.failed(COMPLIANCE, ignored.detail, now=now))
        return _ignored(ignored)

    def _plan(self, profile: Profile, event: Event) -> _Plan:
        # The lookups first: their requests go out while this thread renders the card.
        lookups = {key: self._lookahead.submit(self._registry.live_calls, key) for key in event.recipients}
        card = content_for(event, self._max_content_bytes)
        stated = event_time(event.timestamp)
        first_seen = self._freshness.first_seen
        seen = self._lookahead.submit(first_seen.first_seen, event.key) if stated is None and first_seen else None
        hold = self._parking.hold_for(event, profile) if self._parking else 0
        return _Plan(
            event,
            card,
            hold,
            profile.fanout,
            lookups,
            self._latest_start(stated, seen, hold),
            reject_no_call=profile.no_call == "reject",
        )

    def _latest_start(self, stated: float | None, seen: Future[float] | None, hold: int) -> Callable[[], float]:
        """When a recipient's call must have started, at the latest, for this event to reach it."""

        def latest() -> float:
            now = self._freshness.clock()
            occurred = stated if stated is not None else seen.result() if seen is not None else now
            # Nothing happens after the bridge sees it: a future time can't hold the window open.
            return latest_call_start(min(occurred, now), hold, self._freshness.skew_seconds)

        return latest

    def _route(self, plan: _Plan, deadline: Deadline) -> EventResult:
        """Each recipient's live calls get the event once; a call two recipients share, once."""
        event = plan.event
        latest = plan.latest_start()
        deliveries: list[Delivery] = []
        also: list[Happening] = []
        reached: dict[str, Delivery] = {}
        try:
            for key in event.recipients:
                live = plan.lookups[key].result()
                if not live:
                    deliveries.append(self._wait_or_refuse(plan, key, deadline, latest, also))
                    continue
                for call_sid, entry in live if plan.fanout == "all" else live[:1]:
                    if call_sid in reached:
                        shared = reached[call_sid]
                        detail = f"the same call as {shared.recipient}'s"
                        deliveries.append(replace(shared, recipient=key, detail=detail))
                        continue
                    reached[call_sid] = self._to_call(plan, key, call_sid, entry, deadline, latest, also)
                    deliveries.append(reached[call_sid])
        except BridgeError as error:
            error.happened.extend(also)
            raise
        if all(d.outcome is Outcome.NO_ACTIVE_CALL for d in deliveries) and plan.reject_no_call:
            refused = NoActiveCall(f"{', '.join(event.recipients)} has no active call.", recipient=event.to)
            refused.happened.extend(also)
            raise refused
        result = EventResult.of(deliveries, event.id, event.named_source)
        return replace(result, also=tuple(also), redacted=plan.card.redacted, truncated=plan.card.truncated)

    def _to_call(
        self,
        plan: _Plan,
        key: str,
        call_sid: str,
        entry: CallEntry,
        deadline: Deadline,
        latest: float,
        also: list[Happening],
    ) -> Delivery:
        event = plan.event
        if entry.started > latest:
            # A different conversation: the event is older than the call and its window closed.
            detail = f"the recipient's call started after {iso(latest)}, the latest start this event allows"
            return self._stale(plan, key, detail, call_sid)
        try:
            # Twilio's 429 is backpressure: the event waits in the parked store, not in this request.
            idempotency_key = delivery_key(event.key, call_sid)
            sent = self._udm_out.send(key, call_sid, plan.content, idempotency_key, deadline, yield_to_throttling=True)
        except CallNotActive as gone:
            # The mapping was stale (the delivery ended it): the event may still wait for a call.
            if gone.mapping_removed:
                also.append(stale_mapping_removed(key, gone.call_sid, gone.twilio_code))
            return self._wait_or_refuse(plan, key, deadline, latest, also)
        except TwilioUnavailable as throttled:
            # Twilio throttles (or is down) past the budget: the event waits in the parked store and
            # the flusher delivers it at Twilio's pace; the sender hears 202, not a 503 to retry.
            if self._parking is None or self._parking.max_hold_seconds <= 0:
                throttled.happened.extend(also)
                raise
            not_before = self._freshness.clock() + (throttled.retry_after or 0)
            hold = self._parking.max_hold_seconds
            parked = self._parking.store.park(
                event, plan.content, hold, recipient=key, cause=THROTTLED, not_before=not_before
            )
            detail = "twilio did not take the message in time; it is delivered when twilio accepts it"
            return Delivery(Outcome.PARKED, key, call_sid=call_sid, expires_at=parked.expires_at, detail=detail)
        return Delivery(Outcome.DELIVERED, key, call_sid=sent.call_sid, message_sid=sent.message_sid)

    def _wait_or_refuse(
        self, plan: _Plan, key: str, deadline: Deadline, latest: float, also: list[Happening]
    ) -> Delivery:
        """No call now: any call to come starts from now on, so past `latest` none ever qualifies."""
        remaining = latest - self._freshness.clock()
        if remaining < 0:
            return self._stale(plan, key, f"no call of the recipient started by {iso(latest)}")
        # Parked no longer than a call may start and still receive it.
        hold = min(plan.hold, max(1, math.ceil(remaining)))
        if self._parking is None or hold <= 0:
            return Delivery(Outcome.NO_ACTIVE_CALL, key, detail=f"{key} has no active call")
        parked = self._parking.store.park(plan.event, plan.content, hold, recipient=key, cause=NO_CALL)
        # The call may have registered while this event parked, and its flush may have missed it.
        if self._registry.active_call(key) is not None:
            try:
                flushed = self._parking.flush.flush(key, deadline)
            except BridgeError as error:
                # Accepted all the same: the event is parked and the next flush takes it.
                logger.warning("inline flush stopped", recipient=key, reason=error.code)
                also.extend(error.happened)
            else:
                also.extend(flushed.ended)
                if plan.event.key in flushed.delivered:
                    call_sid, message_sid = flushed.delivered[plan.event.key]
                    return Delivery(Outcome.DELIVERED, key, call_sid=call_sid, message_sid=message_sid)
        return Delivery(Outcome.PARKED, key, expires_at=parked.expires_at)

    def _stale(self, plan: _Plan, key: str, detail: str, call_sid: str | None = None) -> Delivery:
        """Too old for any call the recipient is or will be on: no retry can help, and the ledger
        keeps it for an operator to replay deliberately (`udm-bridge events replay --to`)."""
        event = plan.event
        if self._ledger is not None:
            now = self._freshness.clock()
            shared = len(event.recipients) > 1
            undelivered = Undelivered(event.key, event.id, event.source, key, plan.content, now, shared)
            self._ledger.record(undelivered.failed(Outcome.STALE, detail, now=now))
        return Delivery(Outcome.STALE, key, call_sid=call_sid, detail=detail)

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
