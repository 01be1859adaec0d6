"""Parked events on DynamoDB: keyed by recipient (partition) and arrival (sort key), so flushing a
recipient is one Query, in order. A claim is a conditional, leased write."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from bridge.adapters.dynamodb.codec import build, from_item, to_item
from bridge.adapters.dynamodb.errors import CONDITION_FAILED, store_errors
from bridge.domain.parking import CLAIMED, PARKED, ParkedEvent

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

    from bridge.domain.events import Event

# Longer than one flush of a key can take inside a Lambda's deadline.
LEASE_SECONDS = 60


def decode_parked(item: dict[str, Any]) -> ParkedEvent:
    """A parked item (or a stream image of one) as the domain's ParkedEvent."""
    return build(ParkedEvent, from_item(item))


class DynamoParkedStore:
    def __init__(self, table_name: str, client: DynamoDBClient, clock: Callable[[], float] = time.time) -> None:
        self._table = table_name
        self._client = client
        self._clock = clock

    def park(
        self, event: Event, content: str, hold_seconds: int, *, recipient: str, cause: str, not_before: float = 0.0
    ) -> ParkedEvent:
        now = self._clock()
        parked = ParkedEvent(
            recipient=recipient,
            # Arrival in nanoseconds, then the key: unique, and sorts as the events came.
            arrival=f"{int(now * 1_000_000_000):020d}#{event.key}",
            event_key=event.key,
            event_id=event.id,
            source=event.source,
            content=content,
            parked_at=now,
            expires_at=int(now) + hold_seconds,
            cause=cause,
            shared=len(event.recipients) > 1,
            not_before=not_before,
        )
        item = dataclasses.asdict(parked)
        del item["lease_until"]  # set by a claim
        with store_errors("parking"):
            self._client.put_item(TableName=self._table, Item=to_item(item))
        return parked

    def pending(self, recipient: str) -> list[ParkedEvent]:
        """Every parked event of a recipient, oldest first: one Query."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "recipient = :recipient",
            "ExpressionAttributeValues": to_item({":recipient": recipient}),
            "ConsistentRead": True,
        }
        events: list[ParkedEvent] = []
        while True:
            with store_errors("parking"):
                page = self._client.query(**request)
            events += [decode_parked(item) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return events
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def claim(self, event: ParkedEvent, token: str) -> bool:
        """Takes the event for this flusher, unless another holds a live lease on it."""
        now = self._clock()
        try:
            with store_errors("parking", passthrough=CONDITION_FAILED):
                self._client.update_item(
                    TableName=self._table,
                    Key=self._key(event),
                    UpdateExpression="SET #state = :claimed, claim_token = :token, lease_until = :lease "
                    "ADD attempts :one",
                    ConditionExpression="attribute_exists(arrival) AND (#state = :parked OR lease_until < :now)",
                    ExpressionAttributeNames={"#state": "state"},
                    ExpressionAttributeValues=to_item(
                        {
                            ":claimed": CLAIMED,
                            ":parked": PARKED,
                            ":token": token,
                            ":lease": now + LEASE_SECONDS,
                            ":now": now,
                            ":one": 1,
                        }
                    ),
                )
        except ClientError:
            return False
        return True

    def release(self, event: ParkedEvent, token: str) -> None:
        """Gives a claimed event back, for a later flush (after a transient failure)."""
        try:
            with store_errors("parking", passthrough=CONDITION_FAILED):
                self._client.update_item(
                    TableName=self._table,
                    Key=self._key(event),
                    UpdateExpression="SET #state = :parked REMOVE claim_token, lease_until",
                    ConditionExpression="claim_token = :token",
                    ExpressionAttributeNames={"#state": "state"},
                    ExpressionAttributeValues=to_item({":parked": PARKED, ":token": token}),
                )
        except ClientError:
            pass  # the lease passed to another flusher, which now owns the event

    def remove(self, event: ParkedEvent, token: str | None) -> bool:
        """Deletes a delivered (claimed by `token`) or an expired (still parked) event."""
        condition: dict[str, Any] = (
            {"ConditionExpression": "claim_token = :token", "ExpressionAttributeValues": to_item({":token": token})}
            if token
            else {
                "ConditionExpression": "#state = :parked",
                "ExpressionAttributeNames": {"#state": "state"},
                "ExpressionAttributeValues": to_item({":parked": PARKED}),
            }
        )
        try:
            with store_errors("parking", passthrough=CONDITION_FAILED):
                self._client.delete_item(TableName=self._table, Key=self._key(event), **condition)
        except ClientError:
            return False
        return True

    @staticmethod
    def _key(event: ParkedEvent) -> dict[str, Any]:
        return to_item({"recipient": event.recipient, "arrival": event.arrival})
