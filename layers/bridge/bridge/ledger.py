"""The failure ledger: every accepted event that ended without delivery, with its reason.

One item per event key, so whoever records a failure twice (a retried stream batch, the flusher
and the TTL stream) writes the same entry. A GSI on (kind, failed_at) lists failures since a time
with a Query, for the operator's `udm-bridge events failed`; retention is a TTL.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from bridge.dynamo import store_errors

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

KIND = "failed"  # the GSI partition every entry shares
BY_FAILED_AT = "ByFailedAt"

EXPIRED = "expired"
CALL_ENDED = "call_ended"
TWILIO_REFUSED = "twilio_refused"


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


class Ledger:
    def __init__(self, table_name: str, client: DynamoDBClient, retention_seconds: int) -> None:
        self._table = table_name
        self._client = client
        self._retention = retention_seconds

    def record(self, entry: LedgerEntry) -> None:
        item: dict[str, Any] = {
            "event_key": {"S": entry.event_key},
            "event_id": {"S": entry.event_id},
            "source": {"S": entry.source},
            "recipient": {"S": entry.recipient},
            "reason": {"S": entry.reason},
            "content": {"S": entry.content},
            "attempts": {"N": str(entry.attempts)},
            "parked_at": {"N": repr(entry.parked_at)},
            "failed_at": {"N": repr(entry.failed_at)},
            "detail": {"S": entry.detail},
            "kind": {"S": KIND},
            "expires_at": {"N": str(int(entry.failed_at) + self._retention)},
        }
        if entry.twilio_code is not None:
            item["twilio_code"] = {"N": str(entry.twilio_code)}
        with store_errors("ledger"):
            self._client.put_item(TableName=self._table, Item=item)

    def get(self, event_key: str) -> LedgerEntry | None:
        with store_errors("ledger"):
            item = self._client.get_item(TableName=self._table, Key={"event_key": {"S": event_key}}).get("Item")
        return _decode(item) if item else None

    def failed_since(self, since: float, *, include_replayed: bool = False) -> list[LedgerEntry]:
        entries: list[LedgerEntry] = []
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": BY_FAILED_AT,
            "KeyConditionExpression": "#kind = :kind AND failed_at >= :since",
            "ExpressionAttributeNames": {"#kind": "kind"},
            "ExpressionAttributeValues": {":kind": {"S": KIND}, ":since": {"N": repr(since)}},
        }
        while True:
            with store_errors("ledger"):
                page = self._client.query(**request)
            entries += [_decode(item) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return [entry for entry in entries if include_replayed or entry.replayed_at is None]

    def mark_replayed(self, event_key: str, message_sid: str) -> None:
        with store_errors("ledger"):
            self._client.update_item(
                TableName=self._table,
                Key={"event_key": {"S": event_key}},
                UpdateExpression="SET replayed_at = :now, replay_message_sid = :sid",
                ExpressionAttributeValues={":now": {"N": repr(time.time())}, ":sid": {"S": message_sid}},
            )


def _decode(item: dict[str, Any]) -> LedgerEntry:
    def text(name: str) -> str:
        return str(item.get(name, {}).get("S", ""))

    def number(name: str) -> float | None:
        value = item.get(name, {}).get("N")
        return float(value) if value is not None else None

    code = number("twilio_code")
    return LedgerEntry(
        event_key=text("event_key"),
        event_id=text("event_id"),
        source=text("source"),
        recipient=text("recipient"),
        reason=text("reason"),
        content=text("content"),
        attempts=int(number("attempts") or 0),
        parked_at=number("parked_at") or 0.0,
        failed_at=number("failed_at") or 0.0,
        detail=text("detail"),
        twilio_code=int(code) if code is not None else None,
        replayed_at=number("replayed_at"),
        replay_message_sid=text("replay_message_sid") or None,
    )
