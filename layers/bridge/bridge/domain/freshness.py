"""Freshness: an event reaches only a call that could be about it."""

from __future__ import annotations

from datetime import UTC, datetime

# How far apart the sender's clock, Twilio's and ours may be when an event is judged against a call.
DEFAULT_CLOCK_SKEW_SECONDS = 30


def rfc3339(text: object) -> datetime | None:
    """The one reading of an RFC 3339 date-time: the schemas' `date-time` format accepts exactly what
    this parses, so no time passes validation that freshness can't read. `t` and `z` may be lower
    case (RFC 3339, 5.6); ASCII digits only; no leap second, as jsonschema's checker never took one."""
    from rfc3339_validator import validate_rfc3339  # type: ignore[import-untyped]

    if not isinstance(text, str) or not text.isascii():
        return None
    upper = text.upper()
    # The validator's `$` also matches before a trailing newline; fromisoformat refuses one.
    if not validate_rfc3339(upper):
        return None
    try:
        return datetime.fromisoformat(upper)
    except ValueError:
        return None


def event_time(timestamp: str | None) -> float | None:
    """Epoch seconds of an RFC 3339 time (the Event's `timestamp`); None when absent or unreadable."""
    moment = rfc3339(timestamp)
    return moment.timestamp() if moment is not None else None


def latest_call_start(occurred_at: float, hold_seconds: int, skew_seconds: int) -> float:
    """The latest a call may have started and still receive an event that happened at `occurred_at`.

    A call qualifies when it was already live when the event happened, or started within the
    event's hold window after it, plus a margin for clock skew. Call start times only move
    forward, so once the recipient's call (or now, when it has none) is past this, no retry and
    no later call can ever make the event deliverable: it is stale.
    """
    return occurred_at + max(0, hold_seconds) + max(0, skew_seconds)


def iso(moment: float) -> str:
    """An epoch time as RFC 3339 UTC, to the second: what details and logs show."""
    return datetime.fromtimestamp(moment, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
