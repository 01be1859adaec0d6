"""The exactly-once floor: the least a handler with the bridge's exactly-once guarantee can do.

Per event: a conditional PutItem that claims the event ID in the idempotency table, run on a thread
alongside the consistent GetItem of the recipient's calls that the baseline does; then the same UDM
POST as the baseline (IdempotencyKey = event ID); then an UpdateItem that saves the result. Three
DynamoDB calls, two round trips in series before Twilio and one after.

The claim and the save carry what the guarantee needs, no more (the same conditions and fields as
the bridge's Powertools records, so DynamoDB, or moto, does the same work for both):
* a claim may take an ID whose record has expired (TTL deletes lag by up to days), or whose
  in-progress claim outlived its invocation (a crashed or timed-out attempt must not block the
  sender's retry until the record expires);
* the record keeps a hash of the payload, so the same ID with another body is refused, not
  answered with the first body's result.

What it is not: no signature check, no validation, no secrets fetch (credentials come from the
environment), no logging or metrics, no parking. A duplicate gets 409 rather than the saved
answer. It is a cost floor for comparison, not an implementation to deploy.
"""

import hashlib
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import requests

_CALLS = os.environ["CALLS_TABLE"]
_IDEMPOTENCY = os.environ["IDEMPOTENCY_TABLE"]
_BASE_URL = os.environ.get("TWILIO_API_BASE_URL", "https://api.twilio.com").rstrip("/")
_ACCOUNT_SID = os.environ["FLOOR_TWILIO_ACCOUNT_SID"]
_TIMEOUT = (1.0, 4.0)  # connect, read: as the baseline
_CLAIM_SECONDS = 3600  # how long a record lives (the table's TTL attribute is `expiration`)

dynamodb = boto3.client("dynamodb")
session = requests.Session()
session.auth = (_ACCOUNT_SID, os.environ["FLOOR_TWILIO_AUTH_TOKEN"])
# Built at Init, as the bridge builds its executor: the claim runs here while the handler reads.
pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="floor")


def _claim(event_id: str, payload_hash: str, remaining_ms: int) -> None:
    now = time.time()
    dynamodb.put_item(
        TableName=_IDEMPOTENCY,
        Item={
            "id": {"S": event_id},
            "status": {"S": "INPROGRESS"},
            "expiration": {"N": str(int(now) + _CLAIM_SECONDS)},
            "in_progress_expiration": {"N": str(int(now * 1000) + remaining_ms)},
            "validation": {"S": payload_hash},
        },
        ConditionExpression="attribute_not_exists(#id) OR #expiry < :now OR "
        "(#status = :inprogress AND attribute_exists(#in_progress_expiry) AND #in_progress_expiry < :now_ms)",
        ExpressionAttributeNames={
            "#id": "id",
            "#expiry": "expiration",
            "#status": "status",
            "#in_progress_expiry": "in_progress_expiration",
        },
        ExpressionAttributeValues={
            ":now": {"N": str(int(now))},
            ":now_ms": {"N": str(int(now * 1000))},
            ":inprogress": {"S": "INPROGRESS"},
        },
    )


def _save(event_id: str, payload_hash: str, answer: str) -> None:
    dynamodb.update_item(
        TableName=_IDEMPOTENCY,
        Key={"id": {"S": event_id}},
        UpdateExpression="SET #status = :completed, #data = :answer, #expiry = :expiry, #validation = :hash",
        ExpressionAttributeNames={
            "#status": "status",
            "#data": "data",
            "#expiry": "expiration",
            "#validation": "validation",
        },
        ExpressionAttributeValues={
            ":completed": {"S": "COMPLETED"},
            ":answer": {"S": answer},
            ":expiry": {"N": str(int(time.time()) + _CLAIM_SECONDS)},
            ":hash": {"S": payload_hash},
        },
    )


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    payload = json.loads(event["body"])
    event_id = event["headers"]["webhook-id"]
    payload_hash = hashlib.md5(event["body"].encode(), usedforsecurity=False).hexdigest()
    claim = pool.submit(_claim, event_id, payload_hash, context.get_remaining_time_in_millis())
    item = dynamodb.get_item(
        TableName=_CALLS,
        Key={"recipient": {"S": payload["to"]}},
        ConsistentRead=True,
        ProjectionExpression="calls",
    ).get("Item")
    try:
        claim.result()
    except dynamodb.exceptions.ConditionalCheckFailedException:
        return {"statusCode": 409, "body": "event already claimed"}
    # The registry's item shape, as the baseline reads it; newest call wins.
    calls = (item or {}).get("calls", {}).get("M", {})
    if not calls:
        return {"statusCode": 404, "body": "no call in the registry item (has its shape changed?)"}
    call_sid = max(calls, key=lambda sid: float(calls[sid]["M"]["started"]["N"]))
    content = json.dumps(
        {"id": event_id, "type": payload["type"], "timestamp": payload["timestamp"], "data": payload["data"]},
        separators=(",", ":"),
        ensure_ascii=False,
    )
    response = session.post(
        f"{_BASE_URL}/2010-04-01/Accounts/{_ACCOUNT_SID}/Calls/{call_sid}/UserDefinedMessages.json",
        data={"Content": content, "IdempotencyKey": event_id},
        timeout=_TIMEOUT,
    )
    if response.ok:
        _save(event_id, payload_hash, response.text)
    return {"statusCode": response.status_code, "headers": {"content-type": "application/json"}, "body": response.text}
