"""The flush use case: parked events reach their recipient's call, in order, each exactly once.

Two paths flush: the CallsTable stream when a call registers, and ingest right after parking
(the registration may have landed in between). Each event is claimed before it is posted, so
exactly one flusher posts it; a claim is a lease, so a flusher that dies mid-way doesn't strand
the event. Posts keep the event's IdempotencyKey, so even a lease taken over after Twilio
accepted can't make a second message. A failing head event holds the ones behind it: they are
never posted out of order. Every parked event ends as one outcome: flushed, expired, call_ended
or twilio_refused, in the FlushResult the entry point logs and counts.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from bridge.domain.errors import CallNotActive, TwilioCredentialsRejected, TwilioRejected, TwilioUnavailable
from bridge.domain.events import delivery_key
from bridge.domain.outcomes import Happening, Outcome, stale_mapping_removed
from bridge.domain.parking import THROTTLED, FlushResult

if TYPE_CHECKING:
    from bridge.domain.calls import CallState
    from bridge.domain.parking import ParkedEvent
    from bridge.domain.retry import Deadline
    from bridge.ports import CallRegistry, Ledger, ParkedStore
    from bridge.usecases.udm_out import UdmOut

_NO_CALL = "no call registered before the hold ran out"
_THROTTLED = "twilio throttled the account until the hold ran out"


class ParkedFlush:
    def __init__(
        self,
        store: ParkedStore,
        registry: CallRegistry,
        udm_out: UdmOut,
        ledger: Ledger,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self._registry = registry
        self._udm_out = udm_out
        self._ledger = ledger
        self._clock = clock
        self._sleep = sleep

    def call_changed(self, key: str, state: CallState, deadline: Deadline) -> FlushResult:
        """The CallsTable stream: a key's calls changed; flush when one of them is live."""
        if state.active(self._clock()) is None:
            return FlushResult()  # a call ended or was refreshed to nothing live: nothing to flush to
        return self.flush(key, deadline)

    def flush(self, recipient: str, deadline: Deadline) -> FlushResult:
        """Delivers the recipient's parked events in order, each exactly once.

        Raises TwilioUnavailable (after releasing the event) when Twilio fails transiently, so a
        stream batch is retried; the events behind the failing one stay parked, in order. The
        error carries what this flush did before it (`happened`).
        """
        result = FlushResult()
        pending = self.store.pending(recipient)
        if not pending:
            return result
        token = secrets.token_hex(8)
        call = self._registry.active_call(recipient)
        for event in pending:
            if event.expires_at <= self._clock():
                if self.store.remove(event, None):
                    result.ended.append(self.expired(event))
                continue
            if call is None or not self.store.claim(event, token):
                # No call (yet), or another flusher is posting this one: keep the order.
                result.blocked = True
                break
            wait = event.not_before - self._clock()
            if wait > 0:
                # Twilio asked for a pause when it throttled this event: honour it here, or hand the
                # record back to the stream (which retries it later) when the deadline can't.
                if wait + 1.0 > deadline.left():
                    self.store.release(event, token)
                    pause = TwilioUnavailable("Twilio asked for a pause this flush can't wait out.", retry_after=1)
                    pause.happened.extend(result.ended)
                    raise pause
                self._sleep(wait)
            window = event.expires_at - self._clock()
            if window < self._udm_out.attempt_timeout:
                # An attempt the hold cut short could still reach Twilio after the client gave up: a
                # message both delivered and in the ledger. Only whole attempts, all within the hold.
                result.ended.append(self._fail(event, token, Outcome.EXPIRED, _expiry_detail(event)))
                continue
            try:
                key = delivery_key(event.event_key, call.call_sid)
                sent = self._udm_out.send(
                    recipient, call.call_sid, event.content, key, deadline.within(window), whole_attempts=True
                )
            except (TwilioUnavailable, TwilioCredentialsRejected) as failed:
                self.store.release(event, token)
                failed.happened.extend(result.ended)
                raise
            except CallNotActive as gone:
                if gone.mapping_removed:
                    result.ended.append(stale_mapping_removed(recipient, gone.call_sid, gone.twilio_code))
                detail = "the call ended before the event could be delivered"
                result.ended.append(self._fail(event, token, Outcome.CALL_ENDED, detail))
                result.blocked = True
                break
            except TwilioRejected as refused:
                failed_event = self._fail(event, token, Outcome.TWILIO_REFUSED, refused.detail, refused.twilio_code)
                result.ended.append(failed_event)
                continue
            self.store.remove(event, token)
            fields = {"event_key": event.event_key, "call_sid": sent.call_sid, "message_sid": sent.message_sid}
            result.ended.append(Happening(Outcome.FLUSHED, fields))
        return result

    def expired(self, event: ParkedEvent) -> Happening:
        """A parked event whose hold ran out before a call registered, or before Twilio took it (found
        by a flush, or removed by DynamoDB's TTL): into the ledger, saying which."""
        self._ledger.record(event.undelivered().failed(Outcome.EXPIRED, _expiry_detail(event), attempts=event.attempts))
        return Happening(Outcome.EXPIRED, {"event_key": event.event_key, "recipient": event.recipient})

    def _fail(
        self, event: ParkedEvent, token: str, reason: Outcome, detail: str, twilio_code: int | None = None
    ) -> Happening:
        # Ledger first: if the delete then fails, a later flush finds the event again, not a hole.
        entry = event.undelivered().failed(reason, detail, attempts=event.attempts, twilio_code=twilio_code)
        self._ledger.record(entry)
        self.store.remove(event, token)
        return Happening(reason, {"event_key": event.event_key, "detail": detail})


def _expiry_detail(event: ParkedEvent) -> str:
    return _THROTTLED if event.cause == THROTTLED else _NO_CALL
