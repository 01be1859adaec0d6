"""The ingest use case: profile -> verify -> parse -> extract -> content -> claim || look up -> deliver or park.

It knows nothing about boto3, twilio or API Gateway: those sit behind the ports it is given.
The route records the outcome it returns; nothing here logs or counts an outcome.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from bridge.envelope import checked_content, parse_json
from bridge.errors import BridgeError, CallNotActive, NoActiveCall, UnknownSource
from bridge.model import DEFAULT_SOURCE
from bridge.observability import logger
from bridge.retry import Deadline
from bridge.signatures import Verifier, verifier_for

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from bridge.model import ActiveCall, Event
    from bridge.ports import CallRegistry, Dispatcher, Flusher, IdempotencyGate, ParkedStore, WebhookSecrets
    from bridge.sources import Profile

DELIVERED = "delivered"
PARKED = "parked"


@dataclass(frozen=True)
class InboundRequest:
    body: bytes
    headers: Mapping[str, str]  # lower-case names, as API Gateway HTTP APIs deliver them


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
    ) -> None:
        self._secrets = secrets
        self._profiles = profiles
        self._registry = registry
        self._dispatcher = dispatcher
        self._idempotency = idempotency
        self._max_content_bytes = max_content_bytes
        self._parking = parking
        self._reserve = reserve_seconds
        self._verifiers: dict[str, tuple[tuple[str, ...], Verifier]] = {}
        # The registry read and the idempotency claim don't depend on each other: overlap them.
        self._lookahead = ThreadPoolExecutor(max_workers=2, thread_name_prefix="registry")

    def handle(self, request: InboundRequest, context: LambdaContext, source: str = DEFAULT_SOURCE) -> Accepted:
        profile = self._profiles.get(source)
        if profile is None:
            raise UnknownSource(f"No source is called {source!r}.", source=source)
        # Authenticity first: nothing about the body is looked at or revealed before it.
        self._verifier(profile).verify(request.body, request.headers)
        logger.set_correlation_id(profile.delivery_id(request.headers))

        profile.require_json(request.headers.get("content-type", ""))
        event = profile.extract(request.headers, parse_json(request.body))
        dedupe_id = profile.dedupe_id(request.body)
        if dedupe_id is not None:
            event = replace(event, dedupe_id=dedupe_id)
        logger.set_correlation_id(event.key)
        content = checked_content(event, self._max_content_bytes)
        deadline = Deadline(context.get_remaining_time_in_millis, reserve=self._reserve)
        hold = self._parking.hold_for(event, profile) if self._parking else 0

        call = self._lookahead.submit(self._registry.active_call, event.to)
        result, replayed = self._idempotency.run(
            event.key, event.body, lambda: self._deliver(event, content, deadline, hold, call), context
        )
        return Accepted(body=result, source=event.source, replayed=replayed)

    def _deliver(
        self, event: Event, content: str, deadline: Deadline, hold: int, lookup: Future[ActiveCall | None]
    ) -> dict[str, Any]:
        call = lookup.result()
        if call is None:
            return self._park_or_refuse(event, content, deadline, hold)
        try:
            sent = self._dispatcher.send(event.to, call.call_sid, content, event.key, deadline)
        except CallNotActive:
            # The mapping was stale (the dispatcher ended it): the event may still wait for a call.
            return self._park_or_refuse(event, content, deadline, hold)
        return _delivered(event, sent.call_sid, sent.message_sid)

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
            cached = (secrets, verifier_for(profile, secrets))
            self._verifiers[profile.name] = cached
        return cached[1]


def _delivered(event: Event, call_sid: str, message_sid: str) -> dict[str, Any]:
    body = {"status": DELIVERED, "event_id": event.id, "call_sid": call_sid, "message_sid": message_sid}
    if event.named_source is not None:
        body["source"] = event.named_source
    return body
