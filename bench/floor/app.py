"""The exactly-once floor: the least a handler with the bridge's exactly-once guarantee can do.

Per event: a conditional PutItem that claims the event ID in the idempotency table (status
INPROGRESS, an expiration, `attribute_not_exists(id)`), run on a thread alongside the consistent
GetItem of the recipient's calls that the baseline does; then the same UDM POST as the baseline
(IdempotencyKey = event ID); then an UpdateItem that saves the result (status COMPLETED and
Twilio's answer). Three DynamoDB calls, two round trips in series before Twilio and one after.

What it is not: no signature check, no validation, no secrets fetch (credentials come from the
environment), no logging or metrics, no parking, no payload hash. A duplicate gets 409 rather than
the saved answer, and a failed delivery leaves its claim to expire instead of deleting it so a
retry can run (the bridge, through Powertools' idempotency, does both). It is a cost floor for
comparison, not an implementation to deploy.
"""

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


def _claim(event_id: str) -> None:
    dynamodb.put_item(
        TableName=_IDEMPOTENCY,
        Item={
            "id": {"S": event_id},
            "status": {"S": "INPROGRESS"},
            "expiration": {"N": str(int(time.time()) + _CLAIM_SECONDS)},
        },
        ConditionExpression="attribute_not_exists(id)",
    )


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    payload = json.loads(event["body"])
    event_id = event["headers"]["webhook-id"]
    claim = pool.submit(_claim, event_id)
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
        dynamodb.update_item(
            TableName=_IDEMPOTENCY,
            Key={"id": {"S": event_id}},
            UpdateExpression="SET #status = :completed, #data = :answer",
            ExpressionAttributeNames={"#status": "status", "#data": "data"},
            ExpressionAttributeValues={":completed": {"S": "COMPLETED"}, ":answer": {"S": response.text}},
        )
    return {"statusCode": response.status_code, "headers": {"content-type": "application/json"}, "body": response.text}
