"""The tables' DynamoDB stream records, routed by table into the flush use case:
a call registered -> flush its parked events; a parked event removed by TTL -> the ledger."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bridge.adapters.dynamodb.parked import decode_parked
from bridge.adapters.dynamodb.registry import decode_state
from bridge.observability import logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from bridge.flush import FlushService

# How DynamoDB marks the deletions its TTL process makes in a stream.
TTL_PRINCIPAL = "dynamodb.amazonaws.com"


def table_of(stream_arn: str) -> str:
    """arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label> -> <name>."""
    return stream_arn.split(":table/", 1)[-1].split("/", 1)[0]


class StreamRouter:
    def __init__(self, *, calls_table: str, parked_table: str, service: FlushService) -> None:
        self._calls_table = calls_table
        self._parked_table = parked_table
        self.service = service

    def handle(self, record: DynamoDBRecord, context: LambdaContext) -> None:
        """Raises to have this record retried (the batch reports it as a failure)."""
        table = table_of(record.event_source_arn or "")
        raw: dict[str, Any] = record.raw_event
        if table == self._calls_table:
            image = raw.get("dynamodb", {}).get("NewImage")
            if image:
                self.service.call_changed(image["recipient"]["S"], decode_state(image), context)
        elif table == self._parked_table:
            identity = raw.get("userIdentity") or {}
            image = raw.get("dynamodb", {}).get("OldImage")
            # Only TTL deletions: a flusher removes what it delivered or recorded itself.
            if raw.get("eventName") == "REMOVE" and identity.get("principalId") == TTL_PRINCIPAL and image:
                self.service.parked_expired(decode_parked(image))
        else:
            logger.warning("stream record from an unknown table ignored", table=table)
