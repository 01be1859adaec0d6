"""No stream record dropped silently: an expiry whose processing keeps failing is described in the
OnFailure queue (as template.yaml declares), and `udm-bridge streams redrive` puts it in the ledger."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from helpers import Bridge, ledger_entry, new_event_body, new_id, wait_for

from bridge import bootstrap
from local.dynamo_faults import DynamoFaultProxy, Rule
from local.stack import LocalStack
from ops.cli import main
from ops.streams import read_range

pytestmark = pytest.mark.integration


def streams_cli(stack: LocalStack, *args: str) -> tuple[int, Any]:
    out = io.StringIO()
    code = main(
        [
            "--local",
            "--endpoint-url",
            stack.aws_endpoint,
            "--twilio-api-base-url",
            stack.emulator.base_url,
            "streams",
            *args,
        ],
        out=out,
    )
    return code, json.loads(out.getvalue())


@pytest.fixture(autouse=True)
def empty_failure_queue(stack: LocalStack) -> None:
    """Each test starts from an empty queue: the stack is shared, and a test that points the functions
    at an unreachable DynamoDB (tests/integration/test_ingest.py) can make a poller give up too."""
    sqs, url = stack.client("sqs"), stack.queue_url("StreamFailuresQueue")
    # Received and deleted, not purged: SQS allows one purge a minute.
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def queued(stack: LocalStack, table: str) -> list[dict[str, Any]]:
    return [entry for entry in streams_cli(stack, "failed")[1] if entry["table"] == table]


def described_with(stack: LocalStack, stream_arn: str, event_id: str) -> list[dict[str, Any]]:
    """The ParkedTable descriptions whose records carry `event_id`. The stack is shared: another test's
    parked event can expire, and fail, while the fault is on, and be described first."""
    streams, found = stack.client("dynamodbstreams"), []
    for entry in queued(stack, "ParkedTable"):
        info = {
            "streamArn": stream_arn,
            "shardId": entry["shard"],
            "startSequenceNumber": entry["first_sequence_number"],
            "endSequenceNumber": entry["last_sequence_number"],
        }
        if any(event_id in json.dumps(record["dynamodb"].get("OldImage", {})) for record in read_range(streams, info)):
            found.append(entry)
    return found


def test_an_expiry_that_fails_processing_reaches_the_ledger_after_redrive(
    bridge: Bridge, fresh_runtime: pytest.MonkeyPatch
) -> None:
    stack = bridge.stack
    # Given an event parked for a second, for a recipient whose call never comes
    event_id, key = f"evt_{new_id()}", f"identity:{new_id()}"
    assert bridge.post_event(new_event_body(key, hold_seconds=1), event_id=event_id).status == 202

    parked = stack.client("dynamodb").describe_table(TableName=stack.table_name("ParkedTable"))["Table"]

    # And FlushFunction's DynamoDB failing every write while the expiry is processed (all retries)
    proxy = DynamoFaultProxy(stack.aws_endpoint).start()
    proxy.set_rules(Rule(operation="PutItem", rate=1.0, error="InternalServerError"))
    fresh_runtime.setenv("AWS_ENDPOINT_URL_DYNAMODB", proxy.url)
    bootstrap.reset()
    try:
        # Then the mapping gives up on the record and describes it in the OnFailure queue
        described = wait_for(
            lambda: described_with(stack, parked["LatestStreamArn"], event_id), timeout=100, interval=0.5
        )
    finally:
        fresh_runtime.delenv("AWS_ENDPOINT_URL_DYNAMODB")
        bootstrap.reset()
        proxy.stop()
    assert described[0]["condition"] == "RetryAttemptsExhausted"
    assert described[0]["first_sequence_number"]
    assert ledger_entry(stack, event_id) is None, "nothing reached the ledger while it failed"

    # When an operator redrives what the queue describes
    code, results = streams_cli(stack, "redrive")

    # Then the expiry is in the ledger, as if it had never failed, and the queue is empty
    assert code == 0, results
    assert {result["status"] for result in results} == {"redriven"}
    entry = ledger_entry(stack, event_id)
    assert entry is not None
    assert entry["reason"] == "expired"
    assert streams_cli(stack, "failed")[1] == []


def test_redrive_of_an_empty_queue_does_nothing(stack: LocalStack) -> None:
    assert streams_cli(stack, "redrive") == (0, [])
