"""The tables' DynamoDB stream records, each routed into one use case with a Deadline:

* FlushFunction: a key's calls changed -> flush its parked events; an event parked because Twilio
  throttled -> flush its recipient; a parked event removed by TTL -> the ledger.
* SubscribeFunction: a key's calls changed -> subscribe its new SDK legs to their messages.

A handler raises to have its record retried (the batch reports it as a failure, and the records
behind it keep their order). What the use case did is logged and counted here, also when it fails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from bridge import bootstrap
from bridge.adapters.dynamodb.parked import decode_parked
from bridge.adapters.dynamodb.registry import decode_state
from bridge.domain.call_message import OWNER_PREFIX
from bridge.domain.errors import BridgeError
from bridge.domain.parking import THROTTLED
from bridge.domain.retry import Deadline
from bridge.entrypoints.outcomes import record_happened
from bridge.observability import logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from bridge.domain.outcomes import Happening
    from bridge.usecases.flush import ParkedFlush
    from bridge.usecases.subscribe import Subscribe

# How DynamoDB marks the deletions its TTL process makes in a stream.
TTL_PRINCIPAL = "dynamodb.amazonaws.com"


def table_of(stream_arn: str) -> str:
    """arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label> -> <name>."""
    return stream_arn.split(":table/", 1)[-1].split("/", 1)[0]


def _recorded(work: Callable[[], Iterable[Happening]]) -> None:
    try:
        happened = work()
    except BridgeError as error:
        record_happened(error.happened)
        raise
    record_happened(happened)


class FlushStreamRouter:
    def __init__(self, *, calls_table: str, parked_table: str, flush: ParkedFlush) -> None:
        self._calls_table = calls_table
        self._parked_table = parked_table
        self.flush = flush

    def handle(self, record: DynamoDBRecord, context: LambdaContext) -> None:
        table = table_of(record.event_source_arn or "")
        raw: dict[str, Any] = record.raw_event
        deadline = Deadline(context.get_remaining_time_in_millis)
        if table == self._calls_table:
            image = raw.get("dynamodb", {}).get("NewImage")
            if image:
                key, state = image["recipient"]["S"], decode_state(image)
                _recorded(lambda: self.flush.call_changed(key, state, deadline).ended)
        elif table == self._parked_table:
            identity = raw.get("userIdentity") or {}
            old, new = raw.get("dynamodb", {}).get("OldImage"), raw.get("dynamodb", {}).get("NewImage")
            # Only TTL deletions: a flusher removes what it delivered or recorded itself.
            if raw.get("eventName") == "REMOVE" and identity.get("principalId") == TTL_PRINCIPAL and old:
                expired = decode_parked(old)
                _recorded(lambda: [self.flush.expired(expired)])
            elif raw.get("eventName") == "INSERT" and new and decode_parked(new).cause == THROTTLED:
                # Parked because Twilio throttled, for a call that is live: deliver at Twilio's pace.
                recipient = decode_parked(new).recipient
                _recorded(lambda: self.flush.flush(recipient, deadline).ended)
        else:
            logger.warning("stream record from an unknown table ignored", table=table)


class SubscribeStreamRouter:
    def __init__(self, subscribe: Subscribe) -> None:
        self.subscribe = subscribe

    def handle(self, record: DynamoDBRecord, context: LambdaContext) -> None:
        raw: dict[str, Any] = record.raw_event
        image = raw.get("dynamodb", {}).get("NewImage")
        # The owner items (#call:<CallSid>) are the subscriber's own writes, not a key's calls.
        if not image or image["recipient"]["S"].startswith(OWNER_PREFIX):
            return
        key, state = image["recipient"]["S"], decode_state(image)
        deadline = Deadline(context.get_remaining_time_in_millis)
        _recorded(lambda: self.subscribe.call_changed(key, state, deadline))


def flush_records(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    """FlushFunction's batch from CallsTable's and ParkedTable's streams."""
    wired = bootstrap.flush()
    router = FlushStreamRouter(calls_table=wired.calls_table, parked_table=wired.parked_table, flush=wired.flush)
    return _batch(event, context, router)


def subscribe_records(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    """SubscribeFunction's batch from CallsTable's stream."""
    return _batch(event, context, SubscribeStreamRouter(bootstrap.subscribe()))


def _batch(
    event: dict[str, Any], context: LambdaContext, router: FlushStreamRouter | SubscribeStreamRouter
) -> PartialItemFailureResponse:
    """A stream batch, record by record, in order; failed records reported back (ReportBatchItemFailures)."""
    # A processor per batch: it holds the batch's state, and locally invocations run concurrently.
    processor = BatchProcessor(event_type=EventType.DynamoDBStreams)

    def handle(record: DynamoDBRecord) -> None:
        router.handle(record, context)

    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
