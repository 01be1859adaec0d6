"""The one table of outcomes: each one's log line, its level and, for an event, the HTTP answer.

Every outcome is one log line (`outcome` = its name) and one metric of the same name. An
invocation's own outcome also breaks its metric down by `reason` and `twilio_code`; what happened
beside it (parked events flushed, a stale mapping removed) is counted without dimensions.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bridge.domain.errors import BridgeError
from bridge.domain.outcomes import Happening, Outcome
from bridge.domain.records import Record
from bridge.observability import count


class Line(Record):
    message: str
    level: str = "info"
    status: int | None = None  # what the sender of an event with this outcome is answered


OUTCOMES: dict[Outcome, Line] = {
    # 202: accepted, and delivered once the recipient's call registers (or recorded as expired).
    # 200 also for stale and ignored: no retry can change them, so the sender must not retry.
    Outcome.DELIVERED: Line("udm delivered", status=200),
    Outcome.PARKED: Line("event parked", status=202),
    Outcome.STALE: Line("event too old for the recipient's call", "warning", status=200),
    Outcome.IGNORED: Line("ignored", status=200),
    # A named source's event for someone not on a call: its sender must not retry (see docs/sources.md).
    Outcome.NO_ACTIVE_CALL: Line("no active call", status=200),
    Outcome.REJECTED: Line("request rejected"),
    Outcome.TWILIO_ERROR: Line("twilio did not take the message"),
    Outcome.UNAVAILABLE: Line("backing store unavailable"),
    Outcome.ERROR: Line("bridge misconfigured"),
    Outcome.REGISTERED: Line("call registered"),
    Outcome.UNREGISTERED: Line("call unregistered"),
    Outcome.LOOKED_UP: Line("call looked up"),
    Outcome.FLUSHED: Line("parked event delivered"),
    Outcome.EXPIRED: Line("parked event expired", "warning"),
    Outcome.CALL_ENDED: Line("parked event undeliverable: the call ended", "warning"),
    Outcome.TWILIO_REFUSED: Line("parked event undeliverable: twilio refused it", "warning"),
    Outcome.STALE_MAPPING_REMOVED: Line("stale mapping removed"),
    Outcome.SUBSCRIBED: Line("call subscribed to its messages"),
    Outcome.SUBSCRIPTION_SKIPPED: Line("call not active for a subscription"),
    Outcome.SUBSCRIPTION_FAILED: Line("twilio refused the subscription", "error"),
    Outcome.QUEUED: Line("call message queued"),
    Outcome.FORWARDED: Line("call message forwarded"),
    Outcome.FORWARD_FAILED: Line("call message not forwarded", "warning"),
}

# Fields an invocation's outcome is broken down by: "rejected by reason", "twilio_error by code".
_DIMENSIONS = ("reason", "twilio_code")


def record(outcome: Outcome, *, level: str | None = None, **fields: Any) -> None:
    """An invocation's one outcome: its line, and its metric by reason and Twilio code."""
    dimensions = {name: str(fields[name]) for name in _DIMENSIONS if fields.get(name) is not None}
    line = OUTCOMES[outcome]
    count(outcome, line.message, level=level or line.level, dimensions=dimensions, **fields)


def record_happened(happened: Iterable[Happening]) -> None:
    """What happened beside an invocation's outcome, each counted without dimensions."""
    for happening in happened:
        line = OUTCOMES[happening.outcome]
        count(happening.outcome, line.message, level=line.level, **happening.fields)


def record_error(error: BridgeError) -> None:
    """A failed invocation: what it did before failing, then the error's outcome."""
    record_happened(error.happened)
    fields: dict[str, Any] = {"status": error.status, "reason": error.code, "detail": error.detail}
    twilio_code = getattr(error, "twilio_code", None)
    if twilio_code is not None:
        fields["twilio_code"] = twilio_code
    # A client's mistake is information; a refused signature or a conflict is worth a look.
    level = "error" if error.status >= 500 else "warning" if error.status in (401, 409) else "info"
    record(error.outcome, level=level, **fields)
