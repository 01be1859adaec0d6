"""Call SID -> recipient key on DynamoDB: a second CallsTable item per SDK leg, "#call:<CallSid>".

Ingest still reads one item per event (the key's own); only /twilio/messages reads these, and only
the subscriber writes them. Its stream router feeds the subscribe use case from CallsTable's stream,
skipping these items' own records.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bridge.adapters.dynamodb.codec import from_item, to_item
from bridge.adapters.dynamodb.errors import store_errors
from bridge.adapters.dynamodb.registry import decode_state
from bridge.call_messages import OWNER_PREFIX, owner_item_key
from bridge.retry import Deadline

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_dynamodb.client import DynamoDBClient

    from bridge.subscribe import SubscribeService


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
                ProjectionExpression="#owner",
                ExpressionAttributeNames={"#owner": "owner"},
                ConsistentRead=True,
            ).get("Item")
        owner = from_item(item).get("owner") if item else None
        return str(owner) if owner else None

    def subscribed(self, call_sid: str, subscription_sid: str) -> None:
        with store_errors("call owners"):
            self._client.update_item(
                TableName=self._table,
                Key=to_item({"recipient": owner_item_key(call_sid)}),
                UpdateExpression="SET subscription_sid = :sid",
                ExpressionAttributeValues=to_item({":sid": subscription_sid}),
            )


class SubscribeRouter:
    def __init__(self, service: SubscribeService, reserve_seconds: float = 1.0) -> None:
        self.service = service
        self._reserve = reserve_seconds

    def handle(self, record: DynamoDBRecord, context: LambdaContext) -> None:
        """Raises to have this record retried (the batch reports it as a failure)."""
        raw: dict[str, Any] = record.raw_event
        image = raw.get("dynamodb", {}).get("NewImage")
        if not image or image["recipient"]["S"].startswith(OWNER_PREFIX):
            return
        deadline = Deadline(context.get_remaining_time_in_millis, reserve=self._reserve)
        self.service.call_changed(image["recipient"]["S"], decode_state(image), deadline)
