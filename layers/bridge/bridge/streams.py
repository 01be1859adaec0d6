"""DynamoDB stream records, routed by table: a call registered -> flush its parked events; a parked
event removed by TTL -> record it as expired in the ledger."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from bridge.ledger import EXPIRED
from bridge.observability import count, logger
from bridge.parking import decode_parked
from bridge.registry import decode_state
from bridge.retry import Deadline

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from bridge.ledger import Ledger
    from bridge.parking import Flusher

# How DynamoDB marks the deletions its TTL process makes in a stream.
TTL_PRINCIPAL = "dynamodb.amazonaws.com"


def table_of(stream_arn: str) -> str:
    """arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label> -> <name>."""
    return stream_arn.split(":table/", 1)[-1].split("/", 1)[0]


class StreamService:
    def __init__(
        self,
        *,
        calls_table: str,
        parked_table: str,
        flusher: Flusher,
        ledger: Ledger,
        reserve_seconds: float = 1.0,
    ) -> None:
        self._calls_table = calls_table
        self._parked_table = parked_table
        self._flusher = flusher
        self._ledger = ledger
        self._reserve = reserve_seconds

    @property
    def flusher(self) -> Flusher:
        return self._flusher

    def handle(self, record: DynamoDBRecord, context: LambdaContext) -> None:
        """Raises to have this record retried (the batch reports it as a failure)."""
        table = table_of(record.event_source_arn or "")
        raw: dict[str, Any] = record.raw_event
        if table == self._calls_table:
            self._call_changed(raw, context)
        elif table == self._parked_table:
            self._parked_removed(raw)
        else:
            logger.warning("stream record from an unknown table ignored", table=table)

    def _call_changed(self, raw: dict[str, Any], context: LambdaContext) -> None:
        image = raw.get("dynamodb", {}).get("NewImage")
        if not image:
            return
        key = image["recipient"]["S"]
        if decode_state(image).active(time.time()) is None:
            return  # a call ended or was refreshed to nothing live: nothing to flush to
        result = self._flusher.flush(key, Deadline(context.get_remaining_time_in_millis, reserve=self._reserve))
        if result.delivered or result.expired or result.failed:
            logger.info(
                "parked events flushed",
                recipient=key,
                delivered=len(result.delivered),
                expired=result.expired,
                failed=result.failed,
            )

    def _parked_removed(self, raw: dict[str, Any]) -> None:
        identity = raw.get("userIdentity") or {}
        image = raw.get("dynamodb", {}).get("OldImage")
        if raw.get("eventName") != "REMOVE" or identity.get("principalId") != TTL_PRINCIPAL or not image:
            return  # only TTL deletions: a flusher removes what it delivered or recorded itself
        parked = decode_parked(image)
        self._ledger.record(parked.ledger_entry(EXPIRED, "no call registered before the hold ran out"))
        count("expired")
        logger.warning("parked event expired", event_key=parked.event_key, recipient=parked.recipient)
