"""The call registry on DynamoDB: recipient key -> the live calls it is on.

Storage shape: one item per recipient key,

    {recipient, calls: {CallSid: {started, expires_at, leg, seq}}, ended: {CallSid: ended_at},
     version, expires_at (TTL)}

chosen over one item per call because ingest then stays a single GetItem (no Query), the
"newest call wins" choice is made from one consistent read, and every change is a
read-modify-write guarded by `version`, so concurrent status callbacks never lose an update.
`ended` keeps tombstones, so a late or replayed `ringing` can never resurrect a call that
already completed; `seq` is the reporting leg's SequenceNumber, so an older callback can't
overwrite a newer one. Only the operator's listing scans.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from bridge.adapters.dynamodb.codec import build, from_item, to_item
from bridge.adapters.dynamodb.errors import CONDITION_FAILED, store_errors
from bridge.domain.calls import ActiveCall, CallEntry, CallState, Change
from bridge.domain.errors import CallMismatch, CallNotFound, StoreUnavailable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

# Optimistic writes retried this often before contention counts as unavailability.
_MAX_WRITE_ATTEMPTS = 8


def decode_state(item: dict[str, Any]) -> CallState:
    """A registry item (or a stream image of one) as the domain's CallState."""
    values = from_item(item)
    return CallState(
        calls={sid: build(CallEntry, entry) for sid, entry in values.get("calls", {}).items()},
        ended={sid: int(at) for sid, at in values.get("ended", {}).items()},
        version=int(values.get("version", 0)),
    )


def _encode(key: str, state: CallState, expires_at: int) -> dict[str, Any]:
    return to_item(
        {
            "recipient": key,
            "calls": {sid: dataclasses.asdict(entry) for sid, entry in state.calls.items()},
            "ended": state.ended,
            "version": state.version,
            "expires_at": expires_at,
        }
    )


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
        return ActiveCall(key=key, call_sid=sid, expires_at=entry.expires_at, started=entry.started)

    def live_calls(self, key: str) -> list[tuple[str, CallEntry]]:
        state = self._read(key, projection="calls")
        return state.live(self._clock()) if state else []

    def every_key(self) -> Iterator[tuple[str, CallState]]:
        """Every key and its calls: the operator's listing, the one Scan, never on an event's path."""
        paginator = self._client.get_paginator("scan")
        with store_errors("call registry"):
            for page in paginator.paginate(TableName=self._table):
                for item in page.get("Items", []):
                    yield item["recipient"]["S"], decode_state(item)

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
            "Key": to_item({"recipient": key}),
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
                request["ExpressionAttributeValues"] = to_item({":expected": expected})
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
