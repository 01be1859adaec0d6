"""What AWS does between SQS and Lambda, locally: the template's SQS event source mappings.

Each poller receives from moto's queue, invokes the real handler in-process with SQS records (one
batch at a time, waiting for a container past the function's concurrency), and deletes what
succeeded. A failed record (ReportBatchItemFailures, or a handler that raised) stays in the queue
and comes back after its visibility timeout; moto's redrive policy moves it to the dead-letter
queue after maxReceiveCount receives, as SQS does.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from local.template import Function, QueueSource

log = logging.getLogger("local.sqs")


class QueuePoller:
    def __init__(
        self,
        function: Function,
        source: QueueSource,
        *,
        queue_url: str,
        queue_arn: str,
        client: Any,
        invoke: Callable[[Function, dict[str, Any]], dict[str, Any]],
        wait_seconds: int = 1,
    ) -> None:
        self._function = function
        self._source = source
        self._url = queue_url
        self._arn = queue_arn
        self._client = client
        self._invoke = invoke
        self._wait = wait_seconds
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sqs-{source.name}", daemon=True)
        self.invocations = 0
        self.failures = 0

    def start(self) -> QueuePoller:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        self._idle.clear()
        return self._idle.wait(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                received = self._client.receive_message(
                    QueueUrl=self._url,
                    MaxNumberOfMessages=min(10, self._source.batch_size),
                    WaitTimeSeconds=self._wait,
                    AttributeNames=["All"],
                ).get("Messages", [])
            except Exception:
                log.exception("receive_message failed")
                self._stop.wait(0.5)
                continue
            if not received:
                self._idle.set()
                continue
            self._deliver(received)

    def _deliver(self, messages: list[dict[str, Any]]) -> None:
        records = [self._record(message) for message in messages]
        self.invocations += 1
        try:
            response = self._invoke(self._function, {"Records": records})
            failed = {item["itemIdentifier"] for item in (response or {}).get("batchItemFailures", [])}
        except Exception:
            log.exception("sqs handler raised")
            failed = {record["messageId"] for record in records}
        if failed:
            self.failures += 1
        for message in messages:
            if message["MessageId"] not in failed:
                self._client.delete_message(QueueUrl=self._url, ReceiptHandle=message["ReceiptHandle"])

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        body = message["Body"]
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": body,
            "attributes": message.get("Attributes", {}),
            "messageAttributes": {},
            "md5OfBody": message.get("MD5OfBody") or hashlib.md5(body.encode()).hexdigest(),  # noqa: S324
            "eventSource": "aws:sqs",
            "eventSourceARN": self._arn,
            "awsRegion": "us-east-1",
        }
