"""The failure ledger on DynamoDB: every accepted event that ended without delivery, with its reason.

One item per event key, so whoever records a failure twice (a retried stream batch, the flusher
and the TTL stream) writes the same entry. A GSI on (kind, failed_at) lists failures since a time
with a Query, for the operator's `udm-bridge events failed`; retention is a TTL. An item that is
not an entry (another version's, a hand edit's) is read as a MalformedEntry, never an exception,
so it can't stop the others being listed or replayed.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

from bridge.adapters.dynamodb.codec import build, from_item, to_item
from bridge.adapters.dynamodb.errors import store_errors
from bridge.domain.parking import LedgerEntry, MalformedEntry

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

KIND = "failed"  # the GSI partition every entry shares
BY_FAILED_AT = "ByFailedAt"


class DynamoLedger:
    def __init__(self, table_name: str, client: DynamoDBClient, retention_seconds: int) -> None:
        self._table = table_name
        self._client = client
        self._retention = retention_seconds

    def record(self, entry: LedgerEntry) -> None:
        item = {
            **dataclasses.asdict(entry),
            "kind": KIND,
            "expires_at": int(entry.failed_at) + self._retention,
        }
        with store_errors("ledger"):
            self._client.put_item(TableName=self._table, Item=to_item(item))

    def get(self, event_key: str) -> LedgerEntry | MalformedEntry | None:
        with store_errors("ledger"):
            item = self._client.get_item(TableName=self._table, Key=to_item({"event_key": event_key})).get("Item")
        return _read(item) if item else None

    def failed_since(
        self, since: float, *, include_replayed: bool = False
    ) -> tuple[list[LedgerEntry], list[MalformedEntry]]:
        read: list[LedgerEntry | MalformedEntry] = []
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": BY_FAILED_AT,
            "KeyConditionExpression": "#kind = :kind AND failed_at >= :since",
            "ExpressionAttributeNames": {"#kind": "kind"},
            "ExpressionAttributeValues": to_item({":kind": KIND, ":since": float(since)}),
        }
        while True:
            with store_errors("ledger"):
                page = self._client.query(**request)
            read += [_read(item) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        entries = [entry for entry in read if isinstance(entry, LedgerEntry)]
        malformed = [entry for entry in read if isinstance(entry, MalformedEntry)]
        return [entry for entry in entries if include_replayed or entry.replayed_at is None], malformed

    def mark_replayed(self, event_key: str, message_sid: str) -> None:
        with store_errors("ledger"):
            self._client.update_item(
                TableName=self._table,
                Key=to_item({"event_key": event_key}),
                UpdateExpression="SET replayed_at = :now, replay_message_sid = :sid",
                ExpressionAttributeValues=to_item({":now": time.time(), ":sid": message_sid}),
            )


def _read(item: dict[str, Any]) -> LedgerEntry | MalformedEntry:
    values = from_item(item)
    key = str(values.get("event_key", ""))
    try:
        entry = build(LedgerEntry, values)
    except TypeError as error:  # a field missing
        return MalformedEntry(key, str(error).removeprefix("LedgerEntry.__init__() "))
    problems = entry.problems()
    return MalformedEntry(key, "; ".join(problems)) if problems else entry
