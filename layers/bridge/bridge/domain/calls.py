"""Calls: which live Voice SDK calls a recipient key is on, and how callbacks change that."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from bridge.domain.records import Record

# ECMA-style text (schemas reuse it); always applied with fullmatch, because Python's `$` also
# matches before a trailing newline.
CALL_SID = re.compile(r"^CA[0-9a-fA-F]{32}$")


def is_call_sid(value: object) -> bool:
    return isinstance(value, str) and CALL_SID.fullmatch(value) is not None


class ActiveCall(Record):
    key: str
    call_sid: str
    expires_at: int
    started: float | None = None  # epoch seconds the call started; None: unknown

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "call_sid": self.call_sid, "expires_at": self.expires_at}


class CallEntry(Record):
    started: float  # epoch seconds the call started (or was first seen)
    expires_at: int  # TTL safety net: the call counts as gone after this
    leg: str = ""  # CallSid of the leg whose callbacks report on this call
    seq: int = -1  # highest SequenceNumber applied from that leg


@dataclass
class CallState:
    """Every call a key is on, and the calls that ended recently (tombstones)."""

    calls: dict[str, CallEntry] = field(default_factory=dict)
    ended: dict[str, int] = field(default_factory=dict)
    version: int = 0

    def active(self, now: float) -> tuple[str, CallEntry] | None:
        """The live call that started most recently wins; an older live one takes over when it ends."""
        live = self.live(now)
        return live[0] if live else None

    def live(self, now: float) -> list[tuple[str, CallEntry]]:
        calls = [(sid, entry) for sid, entry in self.calls.items() if entry.expires_at > now]
        return sorted(calls, key=lambda item: (item[1].started, item[0]), reverse=True)

    def start(
        self,
        call_sid: str,
        *,
        now: float,
        ttl_seconds: int,
        started: float | None = None,
        leg: str = "",
        seq: int | None = None,
        explicit: bool = False,
    ) -> bool:
        """Adds or refreshes a call. Returns whether anything changed."""
        if call_sid in self.ended:
            if not explicit:
                return False  # a late or replayed callback for a call that already ended
            del self.ended[call_sid]
        current = self.calls.get(call_sid)
        if current is not None and seq is not None and leg == current.leg and seq <= current.seq:
            return False  # out of order or a retry: a newer callback from this leg was applied
        first_seen = started if started is not None else now
        self.calls[call_sid] = CallEntry(
            started=min(first_seen, current.started) if current is not None else first_seen,
            expires_at=int(now) + ttl_seconds,
            leg=leg or (current.leg if current else ""),
            seq=seq if seq is not None else (current.seq if current else -1),
        )
        return True

    def finish(self, call_sid: str, *, now: float) -> bool:
        """Ends that call, and only that call. Returns whether anything changed."""
        if call_sid in self.ended:
            return False
        self.calls.pop(call_sid, None)
        self.ended[call_sid] = int(now)
        return True

    def prune(self, now: float, tombstone_seconds: int) -> None:
        self.calls = {sid: e for sid, e in self.calls.items() if e.expires_at > now}
        self.ended = {sid: at for sid, at in self.ended.items() if at + tombstone_seconds > now}

    def item_expiry(self, tombstone_seconds: int) -> int:
        ends = [entry.expires_at for entry in self.calls.values()]
        ends += [at + tombstone_seconds for at in self.ended.values()]
        return max(ends, default=0)


class Change(Record):
    """What a registry write did; `active` is the call ingest now messages for the key."""

    changed: bool
    active: str | None


class SentMessage(Record):
    message_sid: str
    call_sid: str
