"""Call SID -> recipient key on DynamoDB: a second CallsTable item per SDK leg, "#call:<CallSid>".

Ingest still reads one item per event (the key's own); only /twilio/messages reads these, and only
the subscriber writes them.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from bridge.adapters.dynamodb.codec import from_item, to_item
from bridge.adapters.dynamodb.errors import store_errors
from bridge.domain.call_message import owner_item_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient


class DynamoCallOwners:
    def __init__(self, table_name: str, client: DynamoDBClient) -> None:
        self._table = table_name
        self._client = client

    def claim(self, call_sid: str, key: str, expires_at: int) -> bool:
        # One UpdateItem: the first key to claim a call keeps it; the expiry follows the call's.
        with store_errors("call owners"):
            item = self._client.update_item(
                TableName=self._table,
                Key=to_item({"recipient": owner_item_key(call_sid)}),
                UpdateExpression="SET #owner = if_not_exists(#owner, :key), expires_at = :expires",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues=to_item({":key": key, ":expires": expires_at}),
                ReturnValues="ALL_NEW",
            )["Attributes"]
        return "subscription_sid" not in item

    def owner(self, call_sid: str) -> str | None:
        with store_errors("call owners"):
            item = self._client.get_item(
                TableName=self._table,
                Key=to_item({"recipient": owner_item_key(call_sid)}),
                ProjectionExpression="#owner, expires_at",
                ExpressionAttributeNames={"#owner": "owner"},
                ConsistentRead=True,
            ).get("Item")
        values = from_item(item) if item else {}
        # DynamoDB's TTL deletes an expired item within days, not at once: past its expiry the call
        # is over, and a message claiming to come from it has no owner.
        if values.get("expires_at", 0) <= time.time():
            return None
        owner = values.get("owner")
        return str(owner) if owner else None

    def subscribed(self, call_sid: str, subscription_sid: str) -> None:
        with store_errors("call owners"):
            self._client.update_item(
                TableName=self._table,
                Key=to_item({"recipient": owner_item_key(call_sid)}),
                UpdateExpression="SET subscription_sid = :sid",
                ExpressionAttributeValues=to_item({":sid": subscription_sid}),
            )
