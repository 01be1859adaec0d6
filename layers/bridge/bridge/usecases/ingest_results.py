"""What ingest answers: one EventResult per event (with a Delivery per recipient call when the event
reaches several), and a BatchResult for a request that carries several events."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from bridge.domain.outcomes import Happening, Outcome
from bridge.domain.records import Record

# When an event has several recipients, its own outcome is the best of theirs, in this order.
_BEST_FIRST = (Outcome.DELIVERED, Outcome.PARKED, Outcome.STALE, Outcome.NO_ACTIVE_CALL)


class Delivery(Record):
    """What became of an event for one recipient key (and, when it has one, its call)."""

    outcome: Outcome  # delivered, parked, stale or no_active_call
    recipient: str
    call_sid: str | None = None
    message_sid: str | None = None
    expires_at: int | None = None
    detail: str | None = None

    def body(self) -> dict[str, Any]:
        found = {name: getattr(self, name) for name in ("recipient", "call_sid", "message_sid", "expires_at", "detail")}
        return {"status": str(self.outcome), **{name: value for name, value in found.items() if value is not None}}


class EventResult(Record):
    """What became of one event: delivered, parked, stale, no_active_call or ignored. `body()` is
    the sender's answer (and what a retry is answered again); `also` is what happened beside it."""

    outcome: Outcome
    event_id: str | None
    source: str | None = None  # a named source; the default source stays unnamed
    call_sid: str | None = None
    message_sid: str | None = None
    recipient: str | None = None
    expires_at: int | None = None
    reason: str | None = None
    type: str | None = None
    detail: str | None = None
    deliveries: tuple[Delivery, ...] = ()  # one per recipient call, when the event has several
    replayed: bool = False
    also: tuple[Happening, ...] = ()
    # What the Content left out (JSON pointers, never values): the log line's, not the sender's.
    redacted: tuple[str, ...] = ()
    truncated: bool = False

    @classmethod
    def of(cls, deliveries: list[Delivery], event_id: str, source: str | None) -> EventResult:
        """An event's result from its recipients': one reads as before, several are listed."""
        if len(deliveries) == 1:
            [only] = deliveries
            return cls(
                only.outcome,
                event_id,
                source,
                call_sid=only.call_sid,
                message_sid=only.message_sid,
                recipient=only.recipient,
                expires_at=only.expires_at,
                detail=only.detail,
            )
        best = next(outcome for outcome in _BEST_FIRST if any(d.outcome is outcome for d in deliveries))
        return cls(best, event_id, source, deliveries=tuple(deliveries))

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": str(self.outcome)}
        for name in _BODY_FIELDS:
            value = getattr(self, name)
            if value is not None:
                body[name] = value
        if self.deliveries:
            body["deliveries"] = [delivery.body() for delivery in self.deliveries]
        return body

    @classmethod
    def from_body(cls, body: Mapping[str, Any], *, replayed: bool) -> EventResult:
        deliveries = tuple(
            Delivery(
                Outcome(item["status"]),
                item["recipient"],
                call_sid=item.get("call_sid"),
                message_sid=item.get("message_sid"),
                expires_at=item.get("expires_at"),
                detail=item.get("detail"),
            )
            for item in body.get("deliveries", ())
        )
        return cls(
            outcome=Outcome(body["status"]),
            event_id=body.get("event_id"),
            source=body.get("source"),
            call_sid=body.get("call_sid"),
            message_sid=body.get("message_sid"),
            recipient=body.get("recipient"),
            expires_at=body.get("expires_at"),
            reason=body.get("reason"),
            type=body.get("type"),
            detail=body.get("detail"),
            deliveries=deliveries,
            replayed=replayed,
        )

    def fields(self) -> dict[str, Any]:
        """The log line's fields."""
        found = {name: getattr(self, name) for name in _BODY_FIELDS}
        if self.deliveries:
            found["deliveries"] = [delivery.body() for delivery in self.deliveries]
        if self.redacted:
            found["redacted"] = list(self.redacted)
        if self.truncated:
            found["truncated"] = True
        return {**found, "replayed": self.replayed}


_NOT_IN_BODY = ("outcome", "deliveries", "replayed", "also", "redacted", "truncated")
_BODY_FIELDS = tuple(f.name for f in fields(EventResult) if f.name not in _NOT_IN_BODY)


class Unsettled(Record):
    """An event of a batch that hit a failure its sender's retry may fix (a store or Twilio down)."""

    index: int
    code: str
    detail: str
    retry_after: int | None = None

    def body(self) -> dict[str, Any]:
        return {"status": "unsettled", "index": self.index, "code": self.code, "detail": self.detail}


class Refused(Record):
    """An event of a batch that can never be handled as sent (no ID, a broken schema): settled."""

    index: int
    code: str
    detail: str
    errors: tuple[Mapping[str, str], ...] = ()

    def body(self) -> dict[str, Any]:
        body = {"status": str(Outcome.REJECTED), "index": self.index, "code": self.code, "detail": self.detail}
        return {**body, "errors": list(self.errors)} if self.errors else body


class BatchResult(Record):
    """Every event of a batch, in order. Settled when none is unsettled: then the sender hears 2xx."""

    source: str
    events: tuple[EventResult | Refused | Unsettled, ...]

    @property
    def settled(self) -> bool:
        return not any(isinstance(item, Unsettled) for item in self.events)

    @property
    def retry_after(self) -> int:
        hints = [item.retry_after or 1 for item in self.events if isinstance(item, Unsettled)]
        return max(hints, default=1)

    def body(self) -> dict[str, Any]:
        listed = []
        for index, item in enumerate(self.events):
            listed.append({"index": index, **item.body()} if isinstance(item, EventResult) else item.body())
        return {"status": "settled" if self.settled else "unsettled", "source": self.source, "events": listed}
