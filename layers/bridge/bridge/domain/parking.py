"""Parked events (waiting for their recipient's call) and the ledger of accepted events that ended
without delivery."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from bridge.domain.cards import redacted_in
from bridge.domain.outcomes import Happening, Outcome
from bridge.domain.records import Record

PARKED = "parked"
CLAIMED = "claimed"
# Why an event was parked: its recipient had no call yet, or Twilio throttled the delivery.
NO_CALL = "no_call"
THROTTLED = "throttled"


class LedgerEntry(Record, eq=True):
    event_key: str
    event_id: str
    source: str
    recipient: str
    reason: str  # an Outcome: stale, expired, call_ended, twilio_refused, forward_failed
    content: str
    attempts: int
    parked_at: float
    failed_at: float
    detail: str = ""
    twilio_code: int | None = None
    replayed_at: float | None = None
    replay_message_sid: str | None = None
    # The key the event's deliveries use, when the entry's own key is not it: an event with several
    # recipients has an entry per recipient, `<event key>#<recipient>`.
    delivery_key: str | None = None
    redacted: tuple[str, ...] | None = None  # JSON pointers of what the Content left out, never values

    def __post_init__(self) -> None:
        if isinstance(self.redacted, list):  # as the table gives it back
            object.__setattr__(self, "redacted", tuple(self.redacted))

    @property
    def event_delivery_key(self) -> str:
        return self.delivery_key or self.event_key

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def problems(self) -> list[str]:
        """Each field whose value is not of its declared kind: an item another version (or a hand)
        wrote; empty for every entry the bridge makes."""
        found = []
        for declared in fields(self):
            kind, _, optional = str(declared.type).partition(" | ")
            value = getattr(self, declared.name)
            if value is None and optional:
                continue
            if isinstance(value, bool) or not isinstance(value, _KINDS[kind]):
                what = {"str": "text", "tuple[str, ...]": "a list"}.get(kind, "a number")
                found.append(f"{declared.name} is not {what}")
            elif isinstance(value, tuple) and not all(isinstance(item, str) for item in value):
                found.append(f"{declared.name} is not a list of text")
        return found


_KINDS: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "tuple[str, ...]": (tuple,),
}


class MalformedEntry(Record, eq=True):
    """A ledger item that is not an entry: listed apart, so that it hides none of the others."""

    event_key: str
    problem: str


class Undelivered(Record):
    """What a ledger entry is about: an event (or a call message) the bridge accepted, with what it
    would have sent. The one way a ledger entry is made."""

    event_key: str
    event_id: str
    source: str
    recipient: str
    content: str
    accepted_at: float
    shared: bool = False  # the event has other recipients: the entry is this recipient's

    def failed(
        self,
        reason: Outcome | str,
        detail: str,
        *,
        attempts: int = 0,
        twilio_code: int | None = None,
        now: float | None = None,
    ) -> LedgerEntry:
        return LedgerEntry(
            event_key=f"{self.event_key}#{self.recipient}" if self.shared else self.event_key,
            delivery_key=self.event_key if self.shared else None,
            event_id=self.event_id,
            source=self.source,
            recipient=self.recipient,
            reason=str(reason),
            content=self.content,
            attempts=attempts,
            parked_at=self.accepted_at,
            failed_at=time.time() if now is None else now,
            detail=detail,
            twilio_code=twilio_code,
            redacted=self.redacted or None,
        )

    @property
    def redacted(self) -> tuple[str, ...]:
        """What the Content says was redacted: every way into the ledger records it, values never."""
        return redacted_in(self.content)


class ParkedEvent(Record):
    recipient: str
    arrival: str
    event_key: str
    event_id: str
    source: str
    content: str
    parked_at: float
    expires_at: int
    state: str = PARKED
    lease_until: float = 0.0
    attempts: int = 0
    cause: str = NO_CALL
    shared: bool = False  # the event has other recipients, each parked on its own
    not_before: float = 0.0  # Twilio's Retry-After, when it throttled: no attempt before then

    def undelivered(self) -> Undelivered:
        return Undelivered(
            self.event_key, self.event_id, self.source, self.recipient, self.content, self.parked_at, self.shared
        )


@dataclass
class FlushResult:
    """Each parked event's end in one flush (flushed, expired, call_ended or twilio_refused), and any
    stale mapping it removed."""

    ended: list[Happening] = field(default_factory=list)
    blocked: bool = False  # stopped before the end: the rest wait for the next flush

    @property
    def delivered(self) -> dict[str, tuple[str, str]]:
        """Event key -> (call sid, message sid) of each parked event this flush delivered."""
        return {
            item.get("event_key"): (item.get("call_sid"), item.get("message_sid"))
            for item in self.ended
            if item.outcome is Outcome.FLUSHED
        }

    def count(self, outcome: Outcome) -> int:
        return sum(1 for item in self.ended if item.outcome is outcome)
