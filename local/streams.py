"""What AWS does between DynamoDB and Lambda, locally: the TTL process and stream event source mappings.

* TTL: DynamoDB deletes expired items in the background and marks those deletions in the stream
  with userIdentity {type: Service, principalId: dynamodb.amazonaws.com}. The sweeper deletes
  expired items from moto's tables and the poller adds that mark to their REMOVE records.
* Event source mapping: the template's DynamoDB events (stream, filter criteria, batch size,
  ParallelizationFactor, retries, ReportBatchItemFailures) poll moto's streams and invoke the real
  handler in-process; an invocation past the function's concurrency waits, as Lambda retries it.
  Records still failing after the retries are described to the OnFailure destination as Lambda
  describes them (shard and sequence range, no records), for `udm-bridge streams redrive`.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from local.template import Function, StreamSource

log = logging.getLogger("local.streams")
TTL_IDENTITY = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
MOTO_ACCOUNT = "123456789012"  # moto's default account, which the local stack's dummy credentials map to


def matches(pattern: Any, value: Any) -> bool:
    """Lambda's event filtering, for the forms the template uses: nested objects and lists of values."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(matches(p, value.get(k)) for k, p in pattern.items())
    if isinstance(pattern, list):
        return value in pattern
    return bool(pattern == value)


class TtlSweeper:
    """Deletes expired items like DynamoDB's TTL process (only faster), remembering which it deleted.

    Its scans are moto's work, shared with the handlers': only expired keys come back, and the next
    sweep waits at least 1/`share` times as long as the last one took, so tables of thousands of live
    items can't take moto from the events."""

    def __init__(self, client: Any, tables: dict[str, str], interval: float = 1.0, share: float = 0.1) -> None:
        self._client = client
        self._tables = tables  # table name -> TTL attribute
        self._interval = interval
        self._share = share
        self._key_names: dict[str, list[str]] = {}
        self._deleted: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ttl-sweeper", daemon=True)

    def start(self) -> TtlSweeper:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def deleted_by_ttl(self, table: str, keys: dict[str, Any]) -> bool:
        with self._lock:
            return (table, _key_text(keys)) in self._deleted

    def sweep(self) -> int:
        now = int(time.time())
        removed = 0
        for table, attribute in self._tables.items():
            key_names = self._keys_of(table)
            # A local stand-in for a background process: the only Scan, and never in Lambda code. Only
            # expired keys come back: serialising every live item was most of moto's time in a burst.
            # DynamoDB's TTL ignores an attribute that is not a Number, so this does.
            pages = self._client.get_paginator("scan").paginate(
                TableName=table,
                FilterExpression="attribute_type(#ttl, :number) AND #ttl <= :now",
                ProjectionExpression=", ".join(f"#k{index}" for index in range(len(key_names))) + ", #ttl",
                ExpressionAttributeNames={"#ttl": attribute, **{f"#k{i}": name for i, name in enumerate(key_names)}},
                ExpressionAttributeValues={":number": {"S": "N"}, ":now": {"N": str(now)}},
            )
            for page in pages:
                for item in page.get("Items", []):
                    keys = {name: item[name] for name in key_names}
                    with self._lock:
                        self._deleted.add((table, _key_text(keys)))
                    try:
                        self._client.delete_item(
                            TableName=table,
                            Key=keys,
                            ConditionExpression=f"{attribute} <= :now",
                            ExpressionAttributeValues={":now": {"N": str(now)}},
                        )
                        removed += 1
                        mark_ttl_removal(table, keys)
                    except self._client.exceptions.ConditionalCheckFailedException:
                        with self._lock:
                            self._deleted.discard((table, _key_text(keys)))
        return removed

    def _keys_of(self, table: str) -> list[str]:
        if table not in self._key_names:
            description = self._client.describe_table(TableName=table)["Table"]
            self._key_names[table] = [key["AttributeName"] for key in description["KeySchema"]]
        return self._key_names[table]

    def _run(self) -> None:
        pause = self._interval
        while not self._stop.wait(pause):
            started = time.monotonic()
            try:
                self.sweep()
            except Exception:
                log.exception("ttl sweep failed")
            pause = max(self._interval, (time.monotonic() - started) / self._share)


def mark_ttl_removal(table: str, keys: dict[str, Any]) -> None:
    """Marks the deletion in moto's own stream, as DynamoDB marks TTL deletions in its stream, so a
    reader of the stream later (a redrive) sees what Lambda saw. moto runs in this process."""
    try:
        from moto.dynamodb.models import dynamodb_backends

        shard = dynamodb_backends[MOTO_ACCOUNT]["us-east-1"].get_table(table).stream_shard
        for record in reversed(shard.items if shard is not None else []):
            if record.record["eventName"] == "REMOVE" and record.record["dynamodb"]["Keys"] == keys:
                # The GetRecords API's casing; Lambda's events spell it type/principalId.
                record.record["userIdentity"] = {"Type": "Service", "PrincipalId": TTL_IDENTITY["principalId"]}
                return
    except Exception:  # moto elsewhere, or its internals changed: the poller still marks what it reads
        log.debug("could not mark a TTL removal in moto's stream", exc_info=True)


def _key_text(keys: dict[str, Any]) -> str:
    return repr(sorted((name, tuple(sorted(value.items()))) for name, value in keys.items()))


class StreamReader:
    """Reads one table's stream for every mapping that starts at the same position.

    Lambda reads a shard once per mapping. Here each mapping still gets every record, in order, and
    delivers on its own thread, but moto serialises each record once rather than once per mapping:
    the mappings' reads were the largest share of moto's CPU in the burst bench."""

    def __init__(
        self,
        *,
        table: str,
        starting_position: str,
        streams_client: Any,
        dynamodb_client: Any,
        sweeper: TtlSweeper | None,
        # Lambda polls each shard of a DynamoDB stream four times a second when it finds nothing.
        interval: float = 0.25,
    ) -> None:
        self.table = table
        self._starting_position = starting_position
        self._streams = streams_client
        self._sweeper = sweeper
        self._interval = interval
        description = dynamodb_client.describe_table(TableName=table)["Table"]
        self.arn = description["LatestStreamArn"]
        self.partition_key = next(key["AttributeName"] for key in description["KeySchema"] if key["KeyType"] == "HASH")
        self._pollers: list[StreamPoller] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"stream-read-{table}", daemon=True)

    def subscribe(self, poller: StreamPoller) -> None:
        self._pollers.append(poller)

    def start(self) -> StreamReader:
        shards = self._streams.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"]
        self._shards = [shard["ShardId"] for shard in shards]
        self._iterators = [
            self._streams.get_shard_iterator(
                StreamArn=self.arn, ShardId=shard["ShardId"], ShardIteratorType=self._starting_position
            )["ShardIterator"]
            for shard in shards
        ]
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            found = False
            for index, iterator in enumerate(self._iterators):
                try:
                    page = self._streams.get_records(ShardIterator=iterator, Limit=1000)
                except Exception:
                    log.exception("get_records failed")
                    continue
                self._iterators[index] = page.get("NextShardIterator", iterator)
                records = [self._shape(record) for record in page.get("Records", [])]
                if records:
                    found = True
                    for poller in self._pollers:
                        poller.offer(records, self._shards[index])
            if not found:
                for poller in self._pollers:
                    poller.caught_up()
                self._stop.wait(self._interval)

    def _shape(self, record: dict[str, Any]) -> dict[str, Any]:
        shaped = dict(record)
        shaped["eventSourceARN"] = self.arn
        stream = dict(shaped.get("dynamodb", {}))
        created = stream.get("ApproximateCreationDateTime")
        if isinstance(created, datetime):
            stream["ApproximateCreationDateTime"] = int(created.timestamp())
        shaped["dynamodb"] = stream
        if (
            record.get("eventName") == "REMOVE"
            and self._sweeper is not None
            and self._sweeper.deleted_by_ttl(self.table, stream.get("Keys", {}))
        ):
            shaped["userIdentity"] = dict(TTL_IDENTITY)
        return shaped


class StreamPoller:
    """One event source mapping: a table's stream, filtered and batched, into one function."""

    def __init__(
        self,
        function: Function,
        source: StreamSource,
        *,
        reader: StreamReader,
        invoke: Callable[[Function, dict[str, Any]], dict[str, Any]],
        on_failure: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self._function = function
        self._source = source
        self._invoke = invoke
        self._on_failure = on_failure
        self._arn = reader.arn
        self._partition_key = reader.partition_key
        self._counting = threading.Lock()
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._paused = threading.Event()
        # What the reader offered and this mapping has not taken yet, by shard, in order.
        self._pending: list[tuple[list[dict[str, Any]], str]] = []
        self._delivering = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=f"stream-{source.name}", daemon=True)
        self.invocations = 0
        self.failures = 0
        reader.subscribe(self)

    def start(self) -> StreamPoller:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._changed:
            self._changed.notify_all()
        self._thread.join(timeout=10)

    def pause(self) -> None:
        """Stops delivering (records keep accumulating in the stream), like disabling the mapping."""
        self._paused.set()

    def resume(self) -> None:
        self._paused.clear()
        with self._changed:
            self._changed.notify_all()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Until a read found nothing new and this mapping had handled what came before: everything
        written before the call has been handled."""
        self._idle.clear()
        return self._idle.wait(timeout)

    def offer(self, records: list[dict[str, Any]], shard: str) -> None:
        """A read's records, from the reader's thread."""
        with self._changed:
            self._pending.append((records, shard))
            if self._paused.is_set():
                self._idle.set()
            self._changed.notify_all()

    def caught_up(self) -> None:
        """The reader found nothing new: idle once what it offered before is handled (or paused)."""
        with self._changed:
            if self._paused.is_set() or (not self._pending and not self._delivering):
                self._idle.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._changed:
                while not self._stop.is_set() and (self._paused.is_set() or not self._pending):
                    self._changed.wait(0.5)
                if self._stop.is_set():
                    return
                records, shard = self._pending.pop(0)
                self._delivering = True
            try:
                wanted = [record for record in records if self._wanted(record)]
                if wanted:
                    self._deliver_lanes(wanted, shard)
            finally:
                with self._changed:
                    self._delivering = False

    def _wanted(self, record: dict[str, Any]) -> bool:
        return not self._source.patterns or any(matches(pattern, record) for pattern in self._source.patterns)

    def _deliver_lanes(self, records: list[dict[str, Any]], shard: str) -> None:
        """ParallelizationFactor: up to that many batches of the shard at once, a partition key's
        records always in the same lane, so in order. Each read's lanes finish before the next read."""
        lanes: dict[int, list[dict[str, Any]]] = {}
        for record in records:
            key = record.get("dynamodb", {}).get("Keys", {}).get(self._partition_key, {})
            lane = zlib.crc32(repr(sorted(key.items())).encode()) % self._source.parallelization
            lanes.setdefault(lane, []).append(record)
        if len(lanes) == 1:
            self._deliver(records, shard)
            return
        workers = [
            threading.Thread(target=self._deliver, args=(lane, shard), name=f"stream-{self._source.name}-lane")
            for lane in lanes.values()
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

    def _deliver(self, records: list[dict[str, Any]], shard: str) -> None:
        for start in range(0, len(records), self._source.batch_size):
            batch = records[start : start + self._source.batch_size]
            attempts = 0
            while batch and not self._stop.is_set():
                with self._counting:
                    self.invocations += 1
                try:
                    response = self._invoke(self._function, {"Records": batch})
                    failed = [item["itemIdentifier"] for item in (response or {}).get("batchItemFailures", [])]
                except Exception:
                    log.exception("stream handler raised")
                    failed = [batch[0]["dynamodb"]["SequenceNumber"]]
                if not failed:
                    break
                with self._counting:
                    self.failures += 1
                attempts += 1
                if 0 <= self._source.max_retries < attempts:
                    self._give_up(batch, shard, attempts)
                    break
                # Lambda resumes from the lowest failed sequence number, keeping the order behind it.
                lowest = min(int(number) for number in failed)
                batch = [record for record in batch if int(record["dynamodb"]["SequenceNumber"]) >= lowest]
                self._stop.wait(min(2.0, 0.1 * 2**attempts))

    def _give_up(self, batch: list[dict[str, Any]], shard: str, attempts: int) -> None:
        if self._on_failure is None:
            log.warning("stream records dropped after %d retries", attempts - 1)
            return
        self._on_failure(failure_description(self._function, batch, shard, self._arn, attempts))
        log.warning("stream records sent to the OnFailure destination after %d retries", attempts - 1)


def failure_description(
    function: Function, batch: list[dict[str, Any]], shard: str, stream_arn: str, attempts: int
) -> dict[str, Any]:
    """What Lambda sends an OnFailure destination for a DynamoDB stream batch: where the records
    are in the stream, not the records."""

    def arrival(record: dict[str, Any]) -> str:
        created = record["dynamodb"].get("ApproximateCreationDateTime", time.time())
        return datetime.fromtimestamp(float(created), UTC).isoformat().replace("+00:00", "Z")

    return {
        "requestContext": {
            "requestId": f"local-{time.time_ns()}",
            "functionArn": f"arn:aws:lambda:us-east-1:123456789012:function:{function.logical_id}",
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": attempts,
        },
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "version": "1.0",
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "DDBStreamBatchInfo": {
            "shardId": shard,
            "startSequenceNumber": batch[0]["dynamodb"]["SequenceNumber"],
            "endSequenceNumber": batch[-1]["dynamodb"]["SequenceNumber"],
            "approximateArrivalOfFirstRecord": arrival(batch[0]),
            "approximateArrivalOfLastRecord": arrival(batch[-1]),
            "batchSize": len(batch),
            "streamArn": stream_arn,
        },
    }
