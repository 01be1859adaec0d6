"""One User Defined Message to one call, inside the retry budget: shared by ingest, the flusher and replays."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from bridge.errors import CallNotActive, TwilioUnavailable
from bridge.observability import logger, record, record_latency, record_retry
from bridge.retry import BudgetExhausted, Deadline, RetryPolicy, Transient, run_with_retries

if TYPE_CHECKING:
    from bridge.model import SentMessage
    from bridge.ports import CallRegistry, MessageSender


class RetryingDispatcher:
    def __init__(self, sender: MessageSender, policy: RetryPolicy, registry: CallRegistry) -> None:
        self._sender = sender
        self._policy = policy
        self._registry = registry

    def send(self, recipient: str, call_sid: str, content: str, key: str, deadline: Deadline) -> SentMessage:
        """Posts with the same IdempotencyKey on every attempt, so a retry can't become a second message.

        Raises TwilioUnavailable when the budget runs out, CallNotActive (after ending the stale
        mapping) when Twilio says the call is gone, and the sender's other permanent errors as they are.
        """
        started = time.perf_counter()
        try:
            sent = run_with_retries(
                lambda timeout: self._sender.send(call_sid, content, key, timeout),
                self._policy,
                deadline,
                on_retry=_log_retry,
            )
        except BudgetExhausted as exhausted:
            raise TwilioUnavailable(
                f"Twilio did not accept the message after {exhausted.attempts} attempt(s): {exhausted}.",
                retry_after=exhausted.retry_after_seconds,
            ) from None
        except CallNotActive as gone:
            self._forget(recipient, gone)
            raise
        record_latency("delivery_latency", (time.perf_counter() - started) * 1000)
        return sent

    def _forget(self, recipient: str, gone: CallNotActive) -> None:
        # A newer call of the recipient is untouched: only the call Twilio named is ended.
        if self._registry.forget_stale(recipient, gone.call_sid):
            record(
                "stale_mapping_removed",
                "stale mapping removed",
                recipient=recipient,
                call_sid=gone.call_sid,
                twilio_code=gone.twilio_code,
            )
        else:
            logger.info("stale mapping already replaced", recipient=recipient, call_sid=gone.call_sid)


def _log_retry(attempt: int, failure: Transient, pause: float) -> None:
    record_retry()
    logger.warning("twilio attempt failed; retrying", attempt=attempt, reason=failure.reason, pause_s=round(pause, 3))
