"""The retry budget: bounded attempts, exponential backoff with full jitter, Retry-After honoured
(up to the budget), and never past the Lambda's deadline minus a reserve for the answer.

Only failures the caller marks as transient are retried; the caller keeps the idempotency key
fixed across attempts so a retry can never become a second message.
"""

from __future__ import annotations

import math
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from bridge.domain.records import Record


class Transient(Exception):
    """A failure worth another attempt; `retry_after` is the server's hint in seconds, and `throttled`
    says the server is asking for less traffic (429) rather than failing."""

    def __init__(self, reason: str, retry_after: float | None = None, *, throttled: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.throttled = throttled


class BudgetExhausted(Exception):
    def __init__(self, last: Transient | None, attempts: int) -> None:
        super().__init__(last.reason if last else "no time left for an attempt")
        self.last = last
        self.attempts = attempts

    @property
    def retry_after_seconds(self) -> int:
        """What to tell the sender: at least Twilio's hint, at least one second."""
        hint = self.last.retry_after if self.last and self.last.retry_after else 1.0
        return max(1, math.ceil(hint))


class RetryPolicy(Record):
    max_attempts: int = 3
    attempt_timeout: float = 4.0
    base_delay: float = 0.1
    max_delay: float = 2.0
    # An attempt shorter than this cannot succeed against a real API; don't start it.
    min_attempt: float = 0.3
    # A Retry-After longer than the budget: wait what the budget allows for one last attempt (the
    # forwarder: nobody waits on it), or stop at once (a delivery: its event is parked instead of
    # holding a sender's request open).
    wait_past_budget: bool = True
    # Throttling ends the attempts at once: the caller has somewhere better to wait (ingest parks
    # the event for the flusher rather than hold a sender's request, and a Lambda, through a burst).
    stop_when_throttled: bool = False

    def delay(self, failed_attempts: int, retry_after: float | None, rng: random.Random) -> float:
        ceiling = min(self.max_delay, self.base_delay * (2 ** (failed_attempts - 1)))
        jittered = rng.uniform(0, ceiling)
        return max(jittered, retry_after) if retry_after is not None else jittered


_DELTA_SECONDS = re.compile(r"[0-9]{1,10}(?:\.[0-9]{1,6})?")


def retry_after_seconds(header: str | None, now: Callable[[], float] = time.time) -> float | None:
    """A Retry-After header in seconds (RFC 9110: delta-seconds or an HTTP-date); None when absent
    or unreadable. ASCII digits only: str.isdigit() and float() accept far more than HTTP does."""
    if not header:
        return None
    text = header.strip()
    if _DELTA_SECONDS.fullmatch(text):
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, moment.timestamp() - now())


@dataclass
class Deadline:
    """Seconds of work left: the Lambda's remaining time minus a reserve for answering."""

    remaining_ms: Callable[[], int]
    reserve: float = 1.0

    def left(self) -> float:
        return self.remaining_ms() / 1000.0 - self.reserve

    def within(self, seconds: float | None) -> Deadline:
        """This deadline, or `seconds` from now if sooner: a sender that waits less than the Lambda
        runs (Shopify and HubSpot wait 5 s) is answered inside its own wait."""
        if seconds is None:
            return self
        end = time.monotonic() + seconds
        outer = self.remaining_ms
        return Deadline(lambda: min(outer(), max(0, int((end - time.monotonic()) * 1000))), reserve=self.reserve)

    @classmethod
    def after(cls, seconds: float, reserve: float = 0.0) -> Deadline:
        """A deadline `seconds` from now on the monotonic clock: for work outside a Lambda (replays)."""
        end = time.monotonic() + seconds
        return cls(lambda: max(0, int((end - time.monotonic()) * 1000)), reserve=reserve)


def run_with_retries[T](
    attempt: Callable[[float], T],
    policy: RetryPolicy,
    deadline: Deadline,
    *,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    on_retry: Callable[[int, Transient, float], None] | None = None,
) -> T:
    """Calls `attempt(timeout)` until it returns, raises a non-transient error, or the budget ends."""
    rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
    last: Transient | None = None
    made = 0
    last_chance = False
    for number in range(1, policy.max_attempts + 1):
        timeout = min(policy.attempt_timeout, deadline.left())
        if timeout < policy.min_attempt:
            break
        made = number
        try:
            return attempt(timeout)
        except Transient as failure:
            last = failure
        if number == policy.max_attempts or last_chance or (last.throttled and policy.stop_when_throttled):
            break
        wanted = policy.delay(number, last.retry_after, rng)
        allowed = deadline.left() - policy.min_attempt
        if allowed < 0 or (wanted > allowed and not policy.wait_past_budget):
            # Not even an attempt's minimum is left, or the server asks for more than there is.
            break
        # A wait longer than the budget (Retry-After: 100000) is cut to it: one last attempt, as
        # late as the budget allows, rather than none.
        last_chance = wanted > allowed
        pause = min(wanted, allowed)
        if on_retry is not None:
            on_retry(number, last, pause)
        sleep(pause)
    raise BudgetExhausted(last, made)
