"""Call messages out: each queued call message to FORWARD_URL as a Standard Webhooks request.

Every attempt carries the message SID as webhook-id, so a receiver that saw an earlier attempt
dedupes the next. 429, 5xx, timeouts and connection errors are retried with exponential backoff,
full jitter and Retry-After as a floor (cut to the function's deadline); after the last attempt, or
on any other answer, the message goes to the ledger as forward_failed, from where it can be replayed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from bridge.domain.call_message import CallMessage
from bridge.domain.errors import ConfigurationError, ForwardRefused
from bridge.domain.outcomes import Outcome
from bridge.domain.records import Record
from bridge.domain.retry import BudgetExhausted, Deadline, RetryPolicy, run_with_retries
from bridge.observability import Latency, record_latency, retry_logged

if TYPE_CHECKING:
    from bridge.ports import Ledger, WebhookSender

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


class ForwardFailed(Exception):
    def __init__(self, detail: str, attempts: int) -> None:
        super().__init__(detail)
        self.detail = detail
        self.attempts = attempts


def check_forward_url(url: str) -> str:
    """HTTPS only; plain HTTP only to loopback, which exists only on a developer's machine."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname in _LOOPBACK:
        return url
    raise ConfigurationError(f"FORWARD_URL must be an https:// URL (http:// only to loopback), got {url!r}")


class Forwarded(Record, eq=True):
    status: int
    attempts: int


class Forwarder:
    """One webhook body to the receiver, inside the retry budget; shared by the function and replays."""

    def __init__(self, sender: WebhookSender, policy: RetryPolicy, sleep: Callable[[float], None] = time.sleep) -> None:
        self._sender = sender
        self._policy = policy
        self._sleep = sleep

    def deliver(self, webhook_id: str, body: str, deadline: Deadline) -> Forwarded:
        attempts = 0
        started = time.perf_counter()

        def attempt(timeout: float) -> int:
            nonlocal attempts
            attempts += 1
            return self._sender.send(webhook_id, body, timeout)

        try:
            status = run_with_retries(
                attempt, self._policy, deadline, sleep=self._sleep, on_retry=retry_logged("forward")
            )
        except BudgetExhausted as exhausted:
            raise ForwardFailed(f"no attempt succeeded: {exhausted}", attempts) from None
        except ForwardRefused as refused:
            raise ForwardFailed(str(refused), attempts) from None
        record_latency(Latency.FORWARD, (time.perf_counter() - started) * 1000)
        return Forwarded(status, attempts)


class ForwardResult(Record, eq=True):
    """What became of one call message: forwarded, or forward_failed (and in the ledger)."""

    outcome: Outcome
    message: CallMessage
    attempts: int
    detail: str | None = None

    def fields(self) -> dict[str, object]:
        return {
            "message_sid": self.message.sid,
            "call_sid": self.message.call_sid,
            "recipient": self.message.key,
            "attempts": self.attempts,
            "detail": self.detail,
        }


class CallMessageOut:
    def __init__(self, forwarder: Forwarder | None, ledger: Ledger) -> None:
        self._forwarder = forwarder  # None: FORWARD_URL is not set
        self._ledger = ledger

    def forward(self, queued: str, deadline: Deadline) -> ForwardResult:
        """Forwards one queued message. Raises only when the ledger write fails, so the queue
        redelivers it (and, past maxReceiveCount, parks it in the dead-letter queue)."""
        message = CallMessage.from_json(queued)
        if self._forwarder is None:
            return self._failed(message, "FORWARD_URL is not configured", 0)
        try:
            forwarded = self._forwarder.deliver(message.sid, message.webhook_body(), deadline)
        except ForwardFailed as failed:
            return self._failed(message, failed.detail, failed.attempts)
        return ForwardResult(Outcome.FORWARDED, message, forwarded.attempts)

    def _failed(self, message: CallMessage, detail: str, attempts: int) -> ForwardResult:
        self._ledger.record(message.ledger_entry(detail, attempts))
        return ForwardResult(Outcome.FORWARD_FAILED, message, attempts, detail)
