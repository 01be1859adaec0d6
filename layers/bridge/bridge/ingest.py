"""The ingest use case: profile -> verify -> parse -> extract (or ignore) -> content -> claim || look up
-> fresh enough for the call? -> deliver, park, or stale.

It knows nothing about boto3, twilio or API Gateway: those sit behind the ports it is given.
The route records the outcome it returns; nothing here logs or counts an outcome.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bridge.envelope import checked_content
from bridge.errors import BridgeError, CallNotActive, NoActiveCall, UnknownSource
from bridge.model import (
    DEFAULT_CLOCK_SKEW_SECONDS,
    DEFAULT_SOURCE,
    STALE,
    event_time,
    latest_call_start,
    signed_url,
    stale_entry,
)
from bridge.observability import logger
from bridge.retry import Deadline
from bridge.signatures import Verifier, VerifierFactory, verifier_for
from bridge.sources import Ignored

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from bridge.model import ActiveCall, Event, HttpRequest
    from bridge.ports import (
        CallRegistry,
        Dispatcher,
        Flusher,
        IdempotencyGate,
        Ledger,
        ParkedStore,
        Sightings,
        WebhookSecrets,
    )
    from bridge.sources import Profile

DELIVERED = "delivered"
PARKED = "parked"
IGNORED = "ignored"


@dataclass(frozen=True)
class Freshness:
    """Which call an event may reach: see model.latest_call_start. The event time is the one the
    event states, or, for a source that states none, when the bridge first saw it (`sightings`)."""

    sightings: Sightings | None = None
    skew_seconds: int = DEFAULT_CLOCK_SKEW_SECONDS
    clock: Callable[[], float] = time.time


@dataclass(frozen=True)
class Accepted:
    """What the sender hears on success: delivered (200) or parked until the call registers (202)."""

    body: dict[str, Any]
    source: str = DEFAULT_SOURCE
    replayed: bool = False

    @property
    def status(self) -> str:
        return str(self.body["status"])


@dataclass(frozen=True)
class Parking:
    """How long an event may wait for its recipient's call."""

    store: ParkedStore
    flusher: Flusher
    max_hold_seconds: int
    default_hold_seconds: int = 0

    def hold_for(self, event: Event, profile: Profile) -> int:
        requested = event.hold_seconds
        if requested is None:
            requested = profile.hold_seconds
        if requested is None:
            requested = self.default_hold_seconds
        return max(0, min(requested, self.max_hold_seconds))


class IngestService:
    def __init__(
        self,
        *,
        secrets: WebhookSecrets,
        profiles: Mapping[str, Profile],
        registry: CallRegistry,
        dispatcher: Dispatcher,
        idempotency: IdempotencyGate,
        max_content_bytes: int,
        parking: Parking | None = None,
        reserve_seconds: float = 1.0,
        ledger: Ledger | None = None,
        freshness: Freshness | None = None,
        public_base_url: str | None = None,
        verifiers: Mapping[str, VerifierFactory] | None = None,
    ) -> None:
        self._secrets = secrets
        self._profiles = profiles
        self._registry = registry
        self._dispatcher = dispatcher
        self._idempotency = idempotency
        self._max_content_bytes = max_content_bytes
        self._parking = parking
        self._reserve = reserve_seconds
        self._ledger = ledger
        self._freshness = freshness or Freshness()
        self._public_base_url = public_base_url
        self._verifier_factories = verifiers or {}
        self._verifiers: dict[str, tuple[tuple[str, ...], Verifier]] = {}
        # The registry read (and the first-seen record) and the idempotency claim don't depend on
        # each other: overlap them.
        self._lookahead = ThreadPoolExecutor(max_workers=4, thread_name_prefix="registry")

    def handle(self, request: HttpRequest, context: LambdaContext, source: str = DEFAULT_SOURCE) -> Accepted:
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
            return Accepted(body=_ignored(event), source=event.source)
        dedupe_id = profile.dedupe_id(request.body)
        if dedupe_id is not None:
            event = replace(event, dedupe_id=dedupe_id)
        logger.set_correlation_id(event.key)
        content = checked_content(event, self._max_content_bytes)
        deadline = Deadline(context.get_remaining_time_in_millis, reserve=self._reserve)
        hold = self._parking.hold_for(event, profile) if self._parking else 0

        call = self._lookahead.submit(self._registry.active_call, event.to)
        stated = event_time(event.timestamp)
        sightings = self._freshness.sightings
        seen = self._lookahead.submit(sightings.first_seen, event.key) if stated is None and sightings else None
        result, replayed = self._idempotency.run(
            event.key,
            event.body,
            lambda: self._deliver(event, content, deadline, hold, call, self._latest_start(stated, seen, hold)),
            context,
        )
        return Accepted(body=result, source=event.source, replayed=replayed)

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
    ) -> dict[str, Any]:
        call = lookup.result()
        latest = latest_start()
        if call is None:
            return self._wait_or_refuse(event, content, deadline, hold, latest)
        if call.started is not None and call.started > latest:
            # A different conversation: the event is older than the call and its window closed.
            detail = f"the recipient's call started after {_iso(latest)}, the latest start this event allows"
            return self._stale(event, content, detail)
        try:
            sent = self._dispatcher.send(event.to, call.call_sid, content, event.key, deadline)
        except CallNotActive:
            # The mapping was stale (the dispatcher ended it): the event may still wait for a call.
            return self._wait_or_refuse(event, content, deadline, hold, latest)
        return _delivered(event, sent.call_sid, sent.message_sid)

    def _wait_or_refuse(
        self, event: Event, content: str, deadline: Deadline, hold: int, latest: float
    ) -> dict[str, Any]:
        """No call now: any call to come starts from now on, so past `latest` none ever qualifies."""
        remaining = latest - self._freshness.clock()
        if remaining < 0:
            return self._stale(event, content, f"no call of the recipient started by {_iso(latest)}")
        # Parked no longer than a call may start and still receive it.
        return self._park_or_refuse(event, content, deadline, min(hold, max(1, math.ceil(remaining))))

    def _stale(self, event: Event, content: str, detail: str) -> dict[str, Any]:
        """Too old for any call the recipient is or will be on: a 2xx, since no retry can help, and a
        ledger entry an operator can replay deliberately (`udm-bridge events replay --to`)."""
        if self._ledger is not None:
            self._ledger.record(stale_entry(event, content, detail, now=self._freshness.clock()))
        body = {"status": STALE, "event_id": event.id, "recipient": event.to, "detail": detail}
        if event.named_source is not None:
            body["source"] = event.named_source
        return body

    def _park_or_refuse(self, event: Event, content: str, deadline: Deadline, hold: int) -> dict[str, Any]:
        if self._parking is None or hold <= 0:
            raise NoActiveCall(f"{event.to} has no active call.", recipient=event.to)
        parked = self._parking.store.park(event, content, hold)
        # The call may have registered while this event parked, and its flush may have missed it.
        if self._registry.active_call(event.to) is not None:
            try:
                flushed = self._parking.flusher.flush(event.to, deadline)
            except BridgeError as error:
                # Accepted all the same: the event is parked and the next flush takes it.
                logger.warning("inline flush stopped", recipient=event.to, reason=error.code)
            else:
                if event.key in flushed.delivered:
                    call_sid, message_sid = flushed.delivered[event.key]
                    return _delivered(event, call_sid, message_sid)
        return {
            "status": PARKED,
            "event_id": event.id,
            "recipient": event.to,
            "expires_at": parked.expires_at,
        }

    def _verifier(self, profile: Profile) -> Verifier:
        # Rebuilt only when the source's secrets change (rotation).
        secrets = tuple(self._secrets().get(profile.name, ()))
        cached = self._verifiers.get(profile.name)
        if cached is None or cached[0] != secrets:
            cached = (secrets, verifier_for(profile, secrets, self._verifier_factories))
            self._verifiers[profile.name] = cached
        return cached[1]


def _ignored(ignored: Ignored) -> dict[str, Any]:
    body = {
        "status": IGNORED,
        "reason": ignored.reason,
        "event_id": ignored.event_id,
        "type": ignored.type,
        "detail": ignored.detail,
    }
    if ignored.source != DEFAULT_SOURCE:
        body["source"] = ignored.source
    return body


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _delivered(event: Event, call_sid: str, message_sid: str) -> dict[str, Any]:
    body = {"status": DELIVERED, "event_id": event.id, "call_sid": call_sid, "message_sid": message_sid}
    if event.named_source is not None:
        body["source"] = event.named_source
    return body
