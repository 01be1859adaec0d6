"""Twilio's account concurrency limit: how many API requests one account may have in flight at once.

Twilio answers the requests beyond it `429` with error 20429 (Too Many Requests); the emulator adds
a `Retry-After` header so a client's backoff can be tested. A request is in flight from the moment
it arrives until it is answered, the emulated round trip (`set_udm_latency`) included. The limit is
off until set; the peak and the 429s are counted either way.
"""

from __future__ import annotations

import threading

from local.twilio_emulator.wire import JSONDict, Reply, is_int, twilio_error

DEFAULT_RETRY_AFTER_SECONDS = 1


class AccountConcurrency:
    """The requests each account has in flight, the most it has had, and the limit, shared by threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._limit: int | None = None
        self._retry_after = DEFAULT_RETRY_AFTER_SECONDS
        self._in_flight: dict[str, int] = {}
        self._peak = 0
        self._throttled = 0

    def configure(self, limit: int | None, retry_after: int = DEFAULT_RETRY_AFTER_SECONDS) -> None:
        """`limit` requests in flight per account (None: no limit); `retry_after` seconds in each 429."""
        if limit is not None and (not is_int(limit) or limit < 1):
            raise ValueError("'limit' must be an integer >= 1, or null for no limit")
        if not is_int(retry_after) or not 0 <= retry_after <= 3600:
            raise ValueError("'retry_after' must be an integer number of seconds in 0..3600")
        with self._lock:
            self._limit, self._retry_after = limit, retry_after

    def enter(self, account_sid: str) -> Reply | None:
        """Admits a request (None; the caller must `leave`) or answers it 429 when the account is at its limit."""
        with self._lock:
            current = self._in_flight.get(account_sid, 0)
            if self._limit is not None and current >= self._limit:
                self._throttled += 1
                retry_after = self._retry_after
            else:
                self._in_flight[account_sid] = current + 1
                self._peak = max(self._peak, current + 1)
                return None
        return twilio_error(429, 20429, "Too Many Requests", {"Retry-After": str(retry_after)})

    def leave(self, account_sid: str) -> None:
        with self._lock:
            left = self._in_flight.get(account_sid, 0) - 1
            if left > 0:
                self._in_flight[account_sid] = left
            else:
                self._in_flight.pop(account_sid, None)

    def counters(self) -> dict[str, int]:
        """What the stats add: 429s answered for the limit, and the most requests one account had in flight."""
        with self._lock:
            return {"throttled": self._throttled, "peak_in_flight": self._peak}

    def as_dict(self) -> JSONDict:
        with self._lock:
            return {
                "limit": self._limit,
                "retry_after": self._retry_after,
                "in_flight": sum(self._in_flight.values()),
                "peak_in_flight": self._peak,
                "throttled": self._throttled,
            }

    def reset(self) -> None:
        """No limit, nothing counted; requests still in flight leave as they finish."""
        with self._lock:
            self._limit, self._retry_after = None, DEFAULT_RETRY_AFTER_SECONDS
            self._peak = self._throttled = 0

    def reset_counters(self) -> None:
        """A new measurement from now: the peak restarts from what is in flight, the 429s from zero."""
        with self._lock:
            self._peak = max(self._in_flight.values(), default=0)
            self._throttled = 0
