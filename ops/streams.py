"""`udm-bridge streams failed|redrive`: the stream batches FlushFunction gave up on.

For a DynamoDB stream, Lambda's OnFailure destination receives a description of the failed batch
(stream, shard, first and last sequence number), not its records. The records stay in the stream
for 24 hours: a redrive reads them back from there and runs them through the flush use case, the
same code FlushFunction runs, with the operator's credentials. A description whose records are all
handled is deleted from the queue; one that fails again stays for the next redrive.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from bridge.entrypoints.streams import table_of

if TYPE_CHECKING:
    from bridge.entrypoints.streams import FlushStreamRouter

# A redrive may take this long per batch (a flush posts to Twilio); the description stays hidden meanwhile.
REDRIVE_SECONDS = 300
# Bounds on reading a stream range back: DynamoDB may answer empty pages before the next records.
_MAX_PAGES = 50


class _Context:
    """The part of a LambdaContext the flush reads: time left, here a fixed budget per batch."""

    def __init__(self, seconds: float) -> None:
        self._deadline = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def failed(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Every description in the queue, left visible (a listing hides nothing from a redrive)."""
    seen: dict[str, dict[str, Any]] = {}
    for _ in range(20):
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0, AttributeNames=["SentTimestamp"]
        ).get("Messages", [])
        fresh = [message for message in messages if message["MessageId"] not in seen]
        if not fresh:
            break
        for message in fresh:
            seen[message["MessageId"]] = summary(message)
    return list(seen.values())


def summary(message: dict[str, Any]) -> dict[str, Any]:
    body = json.loads(message["Body"])
    info = body.get("DDBStreamBatchInfo", {})
    return {
        "message_id": message["MessageId"],
        "table": table_of(info.get("streamArn", "")),
        "shard": info.get("shardId"),
        "first_sequence_number": info.get("startSequenceNumber"),
        "last_sequence_number": info.get("endSequenceNumber"),
        "records": info.get("batchSize"),
        "first_record_at": info.get("approximateArrivalOfFirstRecord"),
        "condition": body.get("requestContext", {}).get("condition"),
        "function": body.get("requestContext", {}).get("functionArn"),
    }


def redrive(sqs: Any, queue_url: str, streams: Any, router: FlushStreamRouter) -> list[dict[str, Any]]:
    """Replays every described batch through the router; deletes each description that succeeds."""
    results: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=REDRIVE_SECONDS
        ).get("Messages", [])
        if not messages:
            return results
        for message in messages:
            result = _redrive_one(message, streams, router)
            if result["status"] == "redriven":
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            results.append(result)


def _redrive_one(message: dict[str, Any], streams: Any, router: FlushStreamRouter) -> dict[str, Any]:
    result = summary(message)
    if "SubscribeFunction" in str(result.get("function") or ""):
        # Subscribing is not the flush use case: the leg subscribes again on its next registration.
        detail = "a subscription failed for good; the next status callback or PUT /calls of the leg subscribes it"
        return {**result, "status": "not_redriven", "detail": detail}
    info = json.loads(message["Body"])["DDBStreamBatchInfo"]
    records = read_range(streams, info)
    if not records:
        return {**result, "status": "gone", "detail": "the records are no longer in the stream (kept 24 hours)"}
    context = _Context(REDRIVE_SECONDS)
    for done, record in enumerate(records):
        try:
            router.handle(DynamoDBRecord(record), context)  # type: ignore[arg-type]
        except Exception as error:  # noqa: BLE001 - as Lambda counts any raise: keep it for the next redrive
            return {**result, "status": "failed", "handled": done, "detail": f"{type(error).__name__}: {error}"}
    return {**result, "status": "redriven", "handled": len(records)}


def read_range(streams: Any, info: dict[str, Any]) -> list[dict[str, Any]]:
    """The batch's records, read back from the stream, shaped as Lambda passed them."""
    first, last = int(info["startSequenceNumber"]), int(info["endSequenceNumber"])
    try:
        iterator = streams.get_shard_iterator(
            StreamArn=info["streamArn"],
            ShardId=info["shardId"],
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            SequenceNumber=info["startSequenceNumber"],
        )["ShardIterator"]
    except streams.exceptions.ResourceNotFoundException:
        return []
    except streams.exceptions.TrimmedDataAccessException:
        return []
    records: list[dict[str, Any]] = []
    for _ in range(_MAX_PAGES):
        if not iterator:
            break
        page = streams.get_records(ShardIterator=iterator, Limit=1000)
        for record in page.get("Records", []):
            number = int(record["dynamodb"]["SequenceNumber"])
            if first <= number <= last:
                records.append(_shaped(record, info["streamArn"]))
            if number >= last:
                return records
        iterator = page.get("NextShardIterator")
    return records


def _shaped(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """GetRecords' shape into the one Lambda invokes with: epoch times, the source ARN, and
    userIdentity as {type, principalId} (the API spells it {Type, PrincipalId})."""
    stream = dict(record["dynamodb"])
    created = stream.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        stream["ApproximateCreationDateTime"] = int(created.timestamp())
    shaped = {**record, "dynamodb": stream, "eventSourceARN": stream_arn}
    identity = record.get("userIdentity")
    if identity:
        shaped["userIdentity"] = {"type": identity.get("Type"), "principalId": identity.get("PrincipalId")}
    return shaped
