"""Faults queued for UDM requests: a Twilio error status, added latency, or a dropped connection.

Parsing is all-or-nothing so a bad list queues nothing; the server applies a fault it was handed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, cast

from local.twilio_emulator.wire import JSONDict, Reply, is_int, twilio_error

_FAULT_KEYS = frozenset({"status", "count", "retry_after", "latency_ms", "drop", "code", "message"})
_FAULT_STATUS_ERRORS: dict[int, tuple[int, str]] = {
    429: (20429, "Too Many Requests"),
    500: (20500, "Internal Server Error"),
    503: (20503, "Service Unavailable"),
}


@dataclass
class Fault:
    remaining: int
    status: int | None = None
    retry_after: int | None = None
    code: int | None = None
    message: str | None = None
    latency_ms: float | None = None
    drop: str | None = None

    def as_dict(self) -> JSONDict:
        raw: JSONDict = {
            "count": self.remaining,
            "status": self.status,
            "retry_after": self.retry_after,
            "code": self.code,
            "message": self.message,
            "latency_ms": self.latency_ms,
            "drop": self.drop,
        }
        return {key: value for key, value in raw.items() if value is not None}

    def reply(self) -> Reply:
        """Twilio's error body for a ``status`` fault; only called for one that has a status."""
        status = cast(int, self.status)
        default_code, default_message = _FAULT_STATUS_ERRORS.get(
            status, (20000 + status, HTTPStatus(status).phrase if status in HTTPStatus else "Error")
        )
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}
        return twilio_error(
            status,
            self.code if self.code is not None else default_code,
            self.message or default_message,
            headers,
        )


def parse_faults(fault: Mapping[str, Any] | Iterable[Mapping[str, Any]]) -> list[Fault]:
    """One fault object or a list of them; any invalid one raises ValueError for the lot."""
    items: Iterable[object] = [fault] if isinstance(fault, Mapping) else fault
    return [_parse_fault(item) for item in items]


def _parse_fault(raw: object) -> Fault:
    if not isinstance(raw, Mapping):
        raise ValueError(f"a fault must be a JSON object, got {type(raw).__name__}")
    unknown = set(raw) - _FAULT_KEYS
    if unknown:
        raise ValueError(f"unknown fault keys: {sorted(unknown)}")
    count = raw.get("count", 1)
    if not is_int(count) or count < 1:
        raise ValueError("fault 'count' must be an integer >= 1")
    status = raw.get("status")
    if status is not None and (not is_int(status) or not 400 <= status <= 599):
        raise ValueError("fault 'status' must be an integer HTTP status in 400..599")
    drop = raw.get("drop")
    if drop is not None and drop not in ("before", "after"):
        raise ValueError("fault 'drop' must be 'before' or 'after'")
    latency_ms = raw.get("latency_ms")
    if latency_ms is not None and (
        isinstance(latency_ms, bool) or not isinstance(latency_ms, int | float) or latency_ms < 0
    ):
        raise ValueError("fault 'latency_ms' must be a number >= 0")
    retry_after = raw.get("retry_after")
    if retry_after is not None and (not is_int(retry_after) or retry_after < 0):
        raise ValueError("fault 'retry_after' must be an integer number of seconds >= 0")
    code = raw.get("code")
    if code is not None and not is_int(code):
        raise ValueError("fault 'code' must be an integer")
    message = raw.get("message")
    if message is not None and not isinstance(message, str):
        raise ValueError("fault 'message' must be a string")
    if status is None and drop is None and latency_ms is None:
        raise ValueError("a fault needs at least one of 'status', 'drop', 'latency_ms'")
    if status is not None and drop is not None:
        raise ValueError("a fault cannot both answer with 'status' and 'drop' the connection")
    if status is None and (retry_after is not None or code is not None or message is not None):
        raise ValueError("'retry_after', 'code' and 'message' only apply to a 'status' fault")
    return Fault(
        remaining=count,
        status=status,
        retry_after=retry_after,
        code=code,
        message=message,
        latency_ms=latency_ms,
        drop=drop,
    )
