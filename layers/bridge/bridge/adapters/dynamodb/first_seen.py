"""When the bridge first saw each delivery (the FirstSeen port): the event time of sources that send none (GitHub).

One item per event key in the idempotency table, beside Powertools' own records (its key prefix
is `udm-bridge.events`, this one's `udm-bridge.first-seen`), expiring with the same TTL attribute
after the idempotency window. The first write wins, atomically, so a retry an hour later reads
the time of the first attempt, not its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from bridge.adapters.dynamodb.codec import from_item, to_item
from bridge.adapters.dynamodb.errors import store_errors

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

KEY_PREFIX = "udm-bridge.first-seen#"


class DynamoFirstSeen:
    def __init__(
        self, table_name: str, client: DynamoDBClient, ttl_seconds: int, clock: Callable[[], float] = time.time
    ) -> None:
        self._table = table_name
        self._client = client
        self._ttl = ttl_seconds
        self._clock = clock

    def first_seen(self, event_key: str) -> float:
        now = self._clock()
        with store_errors("first-seen"):
            answer = self._client.update_item(
                TableName=self._table,
                Key=to_item({"id": KEY_PREFIX + event_key}),
                UpdateExpression="SET first_seen = if_not_exists(first_seen, :now), "
                "expiration = if_not_exists(expiration, :expiration)",
                ExpressionAttributeValues=to_item({":now": now, ":expiration": int(now) + self._ttl}),
                ReturnValues="ALL_NEW",
            )
        return float(from_item(answer.get("Attributes", {})).get("first_seen", now))
