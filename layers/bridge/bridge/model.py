"""The domain model: events, calls, parked events and ledger entries, with the rules on keys and SIDs.

Pure values and rules: no I/O, no SDKs. Every other module speaks in these types.
"""

from __future__ import annotations

import json
import re
import time
import unicodedata
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

# The built-in source: Standard Webhooks carrying the bridge's own envelope, at /events.
DEFAULT_SOURCE = "default"
# The recipient key, event ID and Call SID every part of the bridge accepts.
MAX_KEY_CHARS = 256
MAX_ID_CHARS = 256
# ECMA-style text (schemas reuse it); always applied with fullmatch, because Python's `$` also
# matches before a trailing newline.
CALL_SID = re.compile(r"^CA[0-9a-fA-F]{32}$")
# Any source's event type: the envelope's rule, plus `/` for topics such as Shopify's orders/create.
EVENT_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}")

# Why an accepted event ended without delivery; each is a ledger reason and an outcome name.
EXPIRED = "expired"
CALL_ENDED = "call_ended"
TWILIO_REFUSED = "twilio_refused"
STALE = "stale"

# How far apart the sender's clock, Twilio's and ours may be when an event is judged against a call.
DEFAULT_CLOCK_SKEW_SECONDS = 30


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    timestamp: str | None
    to: str
    data: Any
    body: Any
    source: str = DEFAULT_SOURCE
    hold_seconds: int | None = None  # how long the sender lets it wait for the call; never in Content
    # What the event is deduplicated under when it is not its ID: the body's digest, for schemes
    # whose signature covers no timestamp and no ID (a replay may come with any delivery ID).
    dedupe_id: str | None = None

    @property
    def named_source(self) -> str | None:
        """The source as the agent's app and the sender see it; the default source stays unnamed."""
        return None if self.source == DEFAULT_SOURCE else self.source

    @property
    def key(self) -> str:
        """Idempotency key here and at Twilio: scoped by source, so two sources never collide."""
        return event_key(self.source, self.dedupe_id or self.id)

    def content(self) -> str:
        """The UDM Content: compact JSON the Voice SDK hands to the app as is."""
        content: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.named_source is not None:
            content["source"] = self.named_source
        if self.timestamp is not None:
            content["timestamp"] = self.timestamp
        content["data"] = self.data
        return json.dumps(content, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class HttpRequest:
    """A request as the use cases see it: the raw body, lower-case headers (as API Gateway HTTP APIs
    deliver them), and what the sender called, for schemes that sign the URL."""

    body: bytes
    headers: Mapping[str, str]
    host: str = ""
    raw_path: str = ""
    raw_query: str = ""
    method: str = "POST"


def signed_url(request: HttpRequest, public_base_url: str | None) -> str:
    """The URL a sender called and signed: https + Host + path + ? + raw query, with PUBLIC_BASE_URL
    (scheme, host and base path) in place of https + Host when it calls a custom domain.

    On the $default stage rawPath is the route's own path, also behind a custom domain's API
    mapping (API Gateway does not forward the mapping key), so the base path comes from the setting.
    """
    base = public_base_url.rstrip("/") if public_base_url else f"https://{request.host}"
    url = base + (request.raw_path or "/")
    return f"{url}?{request.raw_query}" if request.raw_query else url


# -- freshness: an event reaches only a call that could be about it -------------------------------


def event_time(timestamp: str | None) -> float | None:
    """Epoch seconds of an RFC 3339 time (the Event's `timestamp`); None when absent or unreadable."""
    if not timestamp:
        return None
    try:
        moment = datetime.fromisoformat(timestamp)
    except ValueError:
        return None
    return moment.timestamp() if moment.tzinfo is not None else None


def latest_call_start(occurred_at: float, hold_seconds: int, skew_seconds: int) -> float:
    """The latest a call may have started and still receive an event that happened at `occurred_at`.

    A call qualifies when it was already live when the event happened, or started within the
    event's hold window after it, plus a margin for clock skew. Call start times only move
    forward, so once the recipient's call (or now, when it has none) is past this, no retry and
    no later call can ever make the event deliverable: it is stale.
    """
    return occurred_at + max(0, hold_seconds) + max(0, skew_seconds)


def event_key(source: str, event_id: str) -> str:
    """`<source>:<id>`, except a default-source ID without a colon, which stays bare.

    Source names have no colon, so everything before a key's first colon names its source and
    no two (source, ID) pairs share a key, whatever characters the IDs hold. Default IDs without
    a colon keep the bare keys they were stored and sent to Twilio under before.
    """
    if source == DEFAULT_SOURCE and ":" not in event_id:
        return event_id
    return f"{source}:{event_id}"


def is_call_sid(value: object) -> bool:
    return isinstance(value, str) and CALL_SID.fullmatch(value) is not None


def is_event_type(value: object) -> bool:
    return isinstance(value, str) and EVENT_TYPE.fullmatch(value) is not None


def is_plain_text(value: str) -> bool:
    """No control characters (newlines included) and no lone surrogates: safe in a log line, a
    DynamoDB key and a Twilio parameter."""
    return all(unicodedata.category(char) not in ("Cc", "Cs") for char in value)


# -- calls ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActiveCall:
    key: str
    call_sid: str
    expires_at: int
    started: float | None = None  # epoch seconds the call started; None: unknown

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "call_sid": self.call_sid, "expires_at": self.expires_at}


@dataclass(frozen=True)
class CallEntry:
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


@dataclass(frozen=True)
class Change:
    """What a registry write did; `active` is the call ingest now messages for the key."""

    changed: bool
    active: str | None


@dataclass(frozen=True)
class SentMessage:
    message_sid: str
    call_sid: str


# -- parked events and the ledger ----------------------------------------------------------------

PARKED = "parked"
CLAIMED = "claimed"


@dataclass(frozen=True)
class LedgerEntry:
    event_key: str
    event_id: str
    source: str
    recipient: str
    reason: str
    content: str
    attempts: int
    parked_at: float
    failed_at: float
    detail: str = ""
    twilio_code: int | None = None
    replayed_at: float | None = None
    replay_message_sid: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def stale_entry(event: Event, content: str, detail: str, *, now: float) -> LedgerEntry:
    """The ledger entry of an event too old for any call its recipient is or will be on."""
    return LedgerEntry(
        event_key=event.key,
        event_id=event.id,
        source=event.source,
        recipient=event.to,
        reason=STALE,
        content=content,
        attempts=0,
        parked_at=now,
        failed_at=now,
        detail=detail,
    )


@dataclass(frozen=True)
class ParkedEvent:
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

    def ledger_entry(self, reason: str, detail: str, twilio_code: int | None = None) -> LedgerEntry:
        return LedgerEntry(
            event_key=self.event_key,
            event_id=self.event_id,
            source=self.source,
            recipient=self.recipient,
            reason=reason,
            content=self.content,
            attempts=self.attempts,
            parked_at=self.parked_at,
            failed_at=time.time(),
            detail=detail,
            twilio_code=twilio_code,
        )


@dataclass
class FlushResult:
    delivered: dict[str, tuple[str, str]] = field(default_factory=dict)  # event key -> (call sid, message sid)
    expired: int = 0
    failed: int = 0
    blocked: bool = False  # stopped before the end: the rest wait for the next flush
