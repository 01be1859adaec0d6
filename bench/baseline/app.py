"""The physical-limit reference: the least work that delivers one event, deployed like the bridge.

Per event: one consistent GetItem on the calls table and one POST of the same form body
(Content, IdempotencyKey) to Twilio's UDM endpoint. No signature check, no validation, no
idempotency, no secrets fetch (credentials come from the environment), no logging.
"""

import json
import os
from typing import Any

import boto3
import requests

_TABLE = os.environ["CALLS_TABLE"]
_BASE_URL = os.environ.get("TWILIO_API_BASE_URL", "https://api.twilio.com").rstrip("/")
_ACCOUNT_SID = os.environ["BASELINE_TWILIO_ACCOUNT_SID"]
_TIMEOUT = (1.0, 4.0)  # connect, read: as short as the bridge's per-attempt timeout

dynamodb = boto3.client("dynamodb")
session = requests.Session()
session.auth = (_ACCOUNT_SID, os.environ["BASELINE_TWILIO_AUTH_TOKEN"])


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    payload = json.loads(event["body"])
    event_id = event["headers"]["webhook-id"]
    item = dynamodb.get_item(
        TableName=_TABLE,
        Key={"recipient": {"S": payload["to"]}},
        ConsistentRead=True,
        ProjectionExpression="calls",
    ).get("Item")
    # The registry's item shape (bridge.adapters.dynamodb.registry): {calls: {CallSid: {started, ...}}};
    # newest call wins.
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
    return {"statusCode": response.status_code, "headers": {"content-type": "application/json"}, "body": response.text}
