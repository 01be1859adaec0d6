"""Each call message's Sid, claimed once (the MessageClaims port), in the idempotency table.

One item per Sid beside Powertools' records and the first-seen times (key prefix
`udm-bridge.call-message#`), expiring with the same TTL attribute. A claim is one conditional
PutItem: it takes a Sid nobody holds, or one whose holder's lease has lapsed (the invocation died
before the queue had the message); a failed condition returns the item it found, so a replay costs
one request. The holder then marks it queued, or deletes it if the queue refused the message.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from bridge.adapters.dynamodb.codec import from_item, to_item
from bridge.adapters.dynamodb.errors import CONDITION_FAILED, error_code, store_errors
from bridge.domain.call_message import Claim

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

KEY_PREFIX = "udm-bridge.call-message#"
_NAMES = {"#state": "state", "#token": "token"}


class DynamoMessageClaims:
    def __init__(
        self, table_name: str, client: DynamoDBClient, ttl_seconds: int, clock: Callable[[], float] = time.time
    ) -> None:
        self._table = table_name
        self._client = client
        self._ttl = ttl_seconds
        self._clock = clock

    def claim(self, sid: str, token: str, lease_until: float) -> Claim:
        now = self._clock()
        item = {
            "id": KEY_PREFIX + sid,
            "state": str(Claim.CLAIMED),
            "token": token,
            "lease_until": lease_until,
            "expiration": int(now) + self._ttl,
        }
        try:
            with store_errors("message claims", passthrough=CONDITION_FAILED):
                self._client.put_item(
                    TableName=self._table,
                    Item=to_item(item),
                    # Nobody's, past its window (TTL deletes late), or a lapsed lease.
                    ConditionExpression="attribute_not_exists(id) OR expiration < :today "
                    "OR (#state = :claimed AND lease_until < :now)",
                    ExpressionAttributeNames={"#state": "state"},
                    ExpressionAttributeValues=to_item(
                        {":today": int(now), ":claimed": str(Claim.CLAIMED), ":now": now}
                    ),
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ClientError as error:
            if error_code(error) != CONDITION_FAILED:
                raise
            found = from_item(error.response.get("Item", {}))  # type: ignore[arg-type]
            return Claim.QUEUED if found.get("state") == Claim.QUEUED else Claim.BUSY
        return Claim.CLAIMED

    def queued(self, sid: str, token: str) -> None:
        self._held(
            sid,
            token,
            lambda condition, values: self._client.update_item(
                TableName=self._table,
                Key=to_item({"id": KEY_PREFIX + sid}),
                UpdateExpression="SET #state = :queued REMOVE lease_until",
                ConditionExpression=condition,
                ExpressionAttributeNames=_NAMES,
                ExpressionAttributeValues=to_item({**values, ":queued": str(Claim.QUEUED)}),
            ),
        )

    def release(self, sid: str, token: str) -> None:
        self._held(
            sid,
            token,
            lambda condition, values: self._client.delete_item(
                TableName=self._table,
                Key=to_item({"id": KEY_PREFIX + sid}),
                ConditionExpression=condition,
                ExpressionAttributeNames=_NAMES,
                ExpressionAttributeValues=to_item(values),
            ),
        )

    def _held(self, sid: str, token: str, write: Callable[[str, dict[str, str]], object]) -> None:
        """A write to the claim this token still holds; a claim another invocation took is left alone."""
        try:
            with store_errors("message claims", passthrough=CONDITION_FAILED):
                write("#token = :token AND #state = :claimed", {":token": token, ":claimed": str(Claim.CLAIMED)})
        except ClientError as error:
            if error_code(error) != CONDITION_FAILED:
                raise
