"""The call registry: recipient key -> the live calls it is on. DynamoDB behind a small port.

Storage shape: one item per recipient key,

    {recipient, calls: {CallSid: {started, expires_at, leg, seq}}, ended: {CallSid: ended_at},
     version, expires_at (TTL)}

chosen over one item per call because ingest then stays a single GetItem (no Query), the
"newest call wins" choice is made from one consistent read, and every change is a
read-modify-write guarded by `version`, so concurrent status callbacks never lose an update.
`ended` keeps tombstones, so a late or replayed `ringing` can never resurrect a call that
already completed; `seq` is the reporting leg's SequenceNumber, so an older callback can't
overwrite a newer one. Nothing here scans.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import ClientError

from bridge.dynamo import CONDITION_FAILED, store_errors
from bridge.errors import CallMismatch, CallNotFound, StoreUnavailable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

# The recipient key and Call SID every part of the bridge accepts.
CALL_SID = re.compile(r"^CA[0-9a-fA-F]{32}$")
MAX_KEY_CHARS = 256
# Optimistic writes retried this often before contention counts as unavailability.
_MAX_WRITE_ATTEMPTS = 8


@dataclass(frozen=True)
class ActiveCall:
    key: str
    call_sid: str
    expires_at: int

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
    """Every call a key is on, and the calls that ended recently. Pure: no I/O."""

    calls: dict[str, CallEntry] = field(default_factory=dict)
    ended: dict[str, int] = field(default_factory=dict)
    version: int = 0

    def active(self, now: float) -> tuple[str, CallEntry] | None:
        """The live call that started most recently wins; an older live one takes over when it ends."""
        live = [(sid, entry) for sid, entry in self.calls.items() if entry.expires_at > now]
        if not live:
            return None
        return max(live, key=lambda item: (item[1].started, item[0]))

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


class CallRegistry(Protocol):
    def active_call(self, key: str) -> ActiveCall | None: ...

    def live_calls(self, key: str) -> list[tuple[str, CallEntry]]: ...

    def register(self, key: str, call_sid: str, ttl_seconds: int) -> ActiveCall: ...

    def started(
        self, key: str, call_sid: str, *, ttl_seconds: int, started: float | None, leg: str, seq: int | None
    ) -> Change: ...

    def ended(self, key: str, call_sid: str) -> Change: ...

    def remove(self, key: str, call_sid: str | None = None) -> None: ...

    def forget_stale(self, key: str, call_sid: str) -> bool: ...


class DynamoCallRegistry:
    def __init__(
        self,
        table_name: str,
        client: DynamoDBClient,
        *,
        tombstone_seconds: int = 4 * 3600,
        clock: Callable[[], float] = time.time,
        pause: Callable[[float], None] = time.sleep,
    ) -> None:
        self._table = table_name
        self._client = client
        self._tombstone_seconds = tombstone_seconds
        self._clock = clock
        self._pause = pause

    # -- reads ----------------------------------------------------------------------------------

    def active_call(self, key: str) -> ActiveCall | None:
        """Ingest's one read per event."""
        state = self._read(key, projection="calls")
        found = state.active(self._clock()) if state else None
        if found is None:
            return None
        sid, entry = found
        return ActiveCall(key=key, call_sid=sid, expires_at=entry.expires_at)

    def live_calls(self, key: str) -> list[tuple[str, CallEntry]]:
        state = self._read(key, projection="calls")
        return state.live(self._clock()) if state else []

    # -- writes ---------------------------------------------------------------------------------

    def register(self, key: str, call_sid: str, ttl_seconds: int) -> ActiveCall:
        """An explicit registration (PUT /calls/{key}): starts now, so it wins until it ends."""
        now = self._clock()
        self._mutate(key, lambda state: state.start(call_sid, now=now, ttl_seconds=ttl_seconds, explicit=True))
        return ActiveCall(key=key, call_sid=call_sid, expires_at=int(now) + ttl_seconds)

    def started(
        self, key: str, call_sid: str, *, ttl_seconds: int, started: float | None, leg: str, seq: int | None
    ) -> Change:
        now = self._clock()
        return self._mutate(
            key,
            lambda state: state.start(call_sid, now=now, ttl_seconds=ttl_seconds, started=started, leg=leg, seq=seq),
        )

    def ended(self, key: str, call_sid: str) -> Change:
        now = self._clock()
        return self._mutate(key, lambda state: state.finish(call_sid, now=now))

    def remove(self, key: str, call_sid: str | None = None) -> None:
        """DELETE /calls/{key}: every call of the key, or only the named one if it is live."""
        live = dict(self.live_calls(key))
        if not live:
            raise CallNotFound(f"No call is registered for {key}.")
        if call_sid is not None and call_sid not in live:
            raise CallMismatch(f"{call_sid} is not a live call of {key}; the registration was left in place.")
        now = self._clock()
        targets = [call_sid] if call_sid is not None else list(live)
        # Ended, not deleted: the tombstones keep late callbacks from bringing the calls back.
        self._mutate(key, lambda state: any([state.finish(sid, now=now) for sid in targets]))

    def forget_stale(self, key: str, call_sid: str) -> bool:
        """Twilio says the call is gone: end it; a newer call of the key is untouched."""
        return self.ended(key, call_sid).changed

    # -- storage --------------------------------------------------------------------------------

    def _read(self, key: str, projection: str | None = None) -> CallState | None:
        request: dict[str, Any] = {
            "TableName": self._table,
            "Key": {"recipient": {"S": key}},
            # Consistent: a call registered a moment ago must be seen by the next event.
            "ConsistentRead": True,
        }
        if projection:
            request["ProjectionExpression"] = projection
        with store_errors("call registry"):
            item = self._client.get_item(**request).get("Item")
        return decode_state(item) if item else None

    def _mutate(self, key: str, change: Callable[[CallState], bool]) -> Change:
        for attempt in range(_MAX_WRITE_ATTEMPTS):
            now = self._clock()
            state = self._read(key) or CallState()
            expected = state.version
            state.prune(now, self._tombstone_seconds)
            if not change(state):
                active = state.active(now)
                return Change(changed=False, active=active[0] if active else None)
            state.version = expected + 1
            request: dict[str, Any] = {
                "TableName": self._table,
                "Item": _encode(key, state, state.item_expiry(self._tombstone_seconds)),
            }
            if expected:
                request["ConditionExpression"] = "version = :expected"
                request["ExpressionAttributeValues"] = {":expected": {"N": str(expected)}}
            else:
                request["ConditionExpression"] = "attribute_not_exists(recipient) OR attribute_not_exists(version)"
            try:
                with store_errors("call registry", passthrough=CONDITION_FAILED):
                    self._client.put_item(**request)
            except ClientError:
                # Another writer got there first: read again and re-apply the change to its result.
                self._pause(random.uniform(0, 0.01 * (attempt + 1)))  # noqa: S311 - jitter, not cryptography
                continue
            active = state.active(now)
            return Change(changed=True, active=active[0] if active else None)
        raise StoreUnavailable("The call registry is too contended right now.", retry_after=1)


def decode_state(item: dict[str, Any]) -> CallState:
    calls = {
        sid: CallEntry(
            started=float(value["M"]["started"]["N"]),
            expires_at=int(value["M"]["expires_at"]["N"]),
            leg=value["M"].get("leg", {}).get("S", ""),
            seq=int(value["M"].get("seq", {}).get("N", "-1")),
        )
        for sid, value in item.get("calls", {}).get("M", {}).items()
    }
    ended = {sid: int(value["N"]) for sid, value in item.get("ended", {}).get("M", {}).items()}
    return CallState(calls=calls, ended=ended, version=int(item.get("version", {}).get("N", "0")))


def _encode(key: str, state: CallState, expires_at: int) -> dict[str, Any]:
    return {
        "recipient": {"S": key},
        "calls": {
            "M": {
                sid: {
                    "M": {
                        "started": {"N": repr(entry.started)},
                        "expires_at": {"N": str(entry.expires_at)},
                        "leg": {"S": entry.leg},
                        "seq": {"N": str(entry.seq)},
                    }
                }
                for sid, entry in state.calls.items()
            }
        },
        "ended": {"M": {sid: {"N": str(at)} for sid, at in state.ended.items()}},
        "version": {"N": str(state.version)},
        "expires_at": {"N": str(expires_at)},
    }
