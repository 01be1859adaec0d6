"""The flush use case: parked events reach their recipient's call, in order, each exactly once.

Two paths flush: the CallsTable stream when a call registers, and ingest right after parking
(the registration may have landed in between). Each event is claimed before it is posted, so
exactly one flusher posts it; a claim is a lease, so a flusher that dies mid-way doesn't strand
the event. Posts keep the event's IdempotencyKey, so even a lease taken over after Twilio
accepted can't make a second message. A failing head event holds the ones behind it: they are
never posted out of order. Every parked event ends as one outcome: flushed, expired, call_ended
or twilio_refused, each logged and counted here once.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from bridge.errors import CallNotActive, TwilioCredentialsRejected, TwilioRejected, TwilioUnavailable
from bridge.model import CALL_ENDED, EXPIRED, TWILIO_REFUSED, FlushResult
from bridge.observability import record
from bridge.retry import Deadline

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from bridge.model import CallState, ParkedEvent
    from bridge.ports import CallRegistry, Dispatcher, Ledger, ParkedStore

_NO_CALL = "no call registered before the hold ran out"


class Flusher:
    def __init__(
        self,
        store: ParkedStore,
        registry: CallRegistry,
        dispatcher: Dispatcher,
        ledger: Ledger,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._registry = registry
        self._dispatcher = dispatcher
        self._ledger = ledger
        self._clock = clock

    def flush(self, recipient: str, deadline: Deadline) -> FlushResult:
        """Delivers the recipient's parked events in order, each exactly once.

        Raises TwilioUnavailable (after releasing the event) when Twilio fails transiently, so a
        stream batch is retried; the events behind the failing one stay parked, in order.
        """
        result = FlushResult()
        pending = self._store.pending(recipient)
        if not pending:
            return result
        token = secrets.token_hex(8)
        call = self._registry.active_call(recipient)
        for event in pending:
            if event.expires_at <= self._clock():
                if self._store.remove(event, None):
                    self.expired(event)
                    result.expired += 1
                continue
            if call is None or not self._store.claim(event, token):
                # No call (yet), or another flusher is posting this one: keep the order.
                result.blocked = True
                break
            try:
                sent = self._dispatcher.send(recipient, call.call_sid, event.content, event.event_key, deadline)
            except (TwilioUnavailable, TwilioCredentialsRejected):
                self._store.release(event, token)
                raise
            except CallNotActive:
                self._fail(event, token, CALL_ENDED, "the call ended before the event could be delivered", result)
                result.blocked = True
                break
            except TwilioRejected as refused:
                self._fail(event, token, TWILIO_REFUSED, refused.detail, result, refused.twilio_code)
                continue
            self._store.remove(event, token)
            result.delivered[event.event_key] = (sent.call_sid, sent.message_sid)
            record("flushed", "parked event delivered", event_key=event.event_key, call_sid=sent.call_sid)
        return result

    def expired(self, event: ParkedEvent) -> None:
        """A parked event whose hold ran out before a call registered: into the ledger."""
        self._ledger.record(event.ledger_entry(EXPIRED, _NO_CALL))
        record(EXPIRED, "parked event expired", level="warning", event_key=event.event_key, recipient=event.recipient)

    def _fail(
        self,
        event: ParkedEvent,
        token: str,
        reason: str,
        detail: str,
        result: FlushResult,
        twilio_code: int | None = None,
    ) -> None:
        # Ledger first: if the delete then fails, a later flush finds the event again, not a hole.
        self._ledger.record(event.ledger_entry(reason, detail, twilio_code))
        self._store.remove(event, token)
        result.failed += 1
        record(reason, "parked event undeliverable", level="warning", event_key=event.event_key, detail=detail)


class FlushService:
    """What the tables' streams ask for: flush a key whose call registered; ledger an expired event."""

    def __init__(self, flusher: Flusher, reserve_seconds: float = 1.0) -> None:
        self._flusher = flusher
        self._reserve = reserve_seconds

    @property
    def flusher(self) -> Flusher:
        return self._flusher

    def call_changed(self, key: str, state: CallState, context: LambdaContext) -> FlushResult | None:
        if state.active(time.time()) is None:
            return None  # a call ended or was refreshed to nothing live: nothing to flush to
        return self._flusher.flush(key, Deadline(context.get_remaining_time_in_millis, reserve=self._reserve))

    def parked_expired(self, event: ParkedEvent) -> None:
        """DynamoDB's TTL removed a parked event nobody delivered."""
        self._flusher.expired(event)
