"""One User Defined Message to one call, inside the retry budget: shared by ingest and the flusher."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from bridge.errors import TwilioUnavailable
from bridge.observability import logger, record_latency, record_retry
from bridge.retry import BudgetExhausted, Deadline, RetryPolicy, Transient, run_with_retries

if TYPE_CHECKING:
    from bridge.delivery import MessageSender, SentMessage


class Dispatcher:
    def __init__(self, sender: MessageSender, policy: RetryPolicy) -> None:
        self._sender = sender
        self._policy = policy

    def send(self, call_sid: str, content: str, key: str, deadline: Deadline) -> SentMessage:
        """Posts with the same IdempotencyKey on every attempt, so a retry can't become a second message.

        Raises TwilioUnavailable when the budget runs out, and the sender's permanent errors as they are.
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
        record_latency("delivery_latency", (time.perf_counter() - started) * 1000)
        return sent


def _log_retry(attempt: int, failure: Transient, pause: float) -> None:
    record_retry()
    logger.warning("twilio attempt failed; retrying", attempt=attempt, reason=failure.reason, pause_s=round(pause, 3))
