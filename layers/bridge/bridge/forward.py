"""The forward use case: each queued call message to FORWARD_URL as a Standard Webhooks request.

Every attempt carries the message SID as webhook-id, so a receiver that saw an earlier attempt
dedupes the next. 429, 5xx, timeouts and connection errors are retried with exponential backoff,
full jitter and Retry-After as a floor, inside the function's deadline; after the last attempt, or
on any other answer, the message goes to the ledger as forward_failed, from where it can be replayed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from bridge.call_messages import FORWARD_FAILED, CallMessage
from bridge.errors import ConfigurationError
from bridge.observability import logger, record, record_latency, record_retry
from bridge.retry import BudgetExhausted, Deadline, RetryPolicy, Transient, run_with_retries

if TYPE_CHECKING:
    from bridge.ports import Ledger, WebhookSender

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


class ForwardRefused(Exception):
    """The receiver answered something no retry changes (a 4xx other than 429, a 3xx)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"the receiver answered {status}")
        self.status = status


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


@dataclass(frozen=True)
class Forwarded:
    status: int
    attempts: int


class Forwarder:
    """One webhook body to the receiver, inside the retry budget; shared by the function and replays."""

    def __init__(self, sender: WebhookSender, policy: RetryPolicy) -> None:
        self._sender = sender
        self._policy = policy

    def deliver(self, webhook_id: str, body: str, deadline: Deadline) -> Forwarded:
        attempts = 0
        started = time.perf_counter()

        def attempt(timeout: float) -> int:
            nonlocal attempts
            attempts += 1
            return self._sender.send(webhook_id, body, timeout)

        try:
            status = run_with_retries(attempt, self._policy, deadline, on_retry=_log_retry)
        except BudgetExhausted as exhausted:
            raise ForwardFailed(f"no attempt succeeded: {exhausted}", attempts) from None
        except ForwardRefused as refused:
            raise ForwardFailed(str(refused), attempts) from None
        record_latency("forward_latency", (time.perf_counter() - started) * 1000)
        return Forwarded(status, attempts)


class ForwardService:
    def __init__(self, forwarder: Forwarder | None, ledger: Ledger) -> None:
        self._forwarder = forwarder  # None: FORWARD_URL is not set
        self._ledger = ledger

    def forward(self, queued: str, deadline: Deadline) -> str:
        """Forwards one queued message; returns its outcome. Raises only when the ledger write fails,
        so the queue redelivers it (and, past maxReceiveCount, parks it in the dead-letter queue)."""
        message = CallMessage.from_json(queued)
        if self._forwarder is None:
            return self._failed(message, "FORWARD_URL is not configured", 0)
        try:
            forwarded = self._forwarder.deliver(message.sid, message.webhook_body(), deadline)
        except ForwardFailed as failed:
            return self._failed(message, failed.detail, failed.attempts)
        record(
            "forwarded",
            "call message forwarded",
            message_sid=message.sid,
            call_sid=message.call_sid,
            recipient=message.key,
            attempts=forwarded.attempts,
        )
        return "forwarded"

    def _failed(self, message: CallMessage, detail: str, attempts: int) -> str:
        self._ledger.record(message.ledger_entry(detail, attempts))
        record(
            FORWARD_FAILED,
            "call message not forwarded",
            level="warning",
            message_sid=message.sid,
            call_sid=message.call_sid,
            recipient=message.key,
            detail=detail,
            attempts=attempts,
        )
        return FORWARD_FAILED


def _log_retry(attempt: int, failure: Transient, pause: float) -> None:
    record_retry()
    logger.warning("forward attempt failed; retrying", attempt=attempt, reason=failure.reason, pause_s=round(pause, 3))
