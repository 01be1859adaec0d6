"""`udm-bridge smoke`: after a deploy, one signed event and one unsigned request prove the path.

A signed event for a reserved identity that never has a call must come back `404 no_active_call`:
the route reached the ingest function (routing), it read the webhook secret (secrets, IAM), the
signature verified, the body passed the schema, and the registry read answered (DynamoDB, IAM).
The event asks for no hold, so it is never parked, and a 404 leaves no idempotency record behind.
Then an unsigned `POST /events` must be refused (401), and an unsigned `/calls` request too (403
from the gateway's IAM authorizer; the local front does not enforce IAM, so locally that check is
reported as skipped).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests
from standardwebhooks.webhooks import Webhook

SMOKE_KEY = "identity:udm-bridge-smoke"
SMOKE_TYPE = "udm-bridge.smoke"
TIMEOUT = 30


@dataclass(frozen=True)
class Endpoints:
    events_url: str
    calls_url: str  # the prefix; a key is appended
    local: bool


def smoke_body() -> str:
    return json.dumps(
        {
            "type": SMOKE_TYPE,
            "timestamp": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "to": SMOKE_KEY,
            "data": {"purpose": "post-deploy smoke test; never delivered"},
            "hold_seconds": 0,
        }
    )


def signed_event(events_url: str, secret: str) -> dict[str, Any]:
    body = smoke_body()
    event_id, now = f"smoke_{uuid.uuid4().hex}", datetime.now(UTC)
    headers = {
        "content-type": "application/json",
        "webhook-id": event_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(event_id, now, body),
    }
    reply = requests.post(events_url, data=body.encode("utf-8"), headers=headers, timeout=TIMEOUT)
    code = _code(reply)
    return _check(
        "signed event for a reserved identity: 404 no_active_call",
        reply.status_code == 404 and code == "no_active_call",
        f"{reply.status_code} {code or reply.text[:200]}",
        "routing, the webhook secret, signature verification, the schema, the registry read and IAM",
    )


def unsigned_event(events_url: str) -> dict[str, Any]:
    body = smoke_body()
    reply = requests.post(events_url, data=body, headers={"content-type": "application/json"}, timeout=TIMEOUT)
    code = _code(reply)
    return _check(
        "unsigned POST /events: 401 invalid_signature",
        reply.status_code == 401 and code == "invalid_signature",
        f"{reply.status_code} {code or reply.text[:200]}",
        "signatures fail closed",
    )


def unsigned_calls(calls_url: str, local: bool) -> dict[str, Any]:
    reply = requests.get(calls_url + SMOKE_KEY, timeout=TIMEOUT)
    if local:
        result = _check(
            "unsigned GET /calls/{key}: refused by IAM",
            True,
            f"{reply.status_code}: the local front does not enforce IAM",
            "skipped locally",
        )
        return {**result, "skipped": True}
    return _check(
        "unsigned GET /calls/{key}: 403 from the IAM authorizer",
        reply.status_code == 403,
        f"{reply.status_code} {reply.text[:200]}",
        "the calls API is private",
    )


def run(endpoints: Endpoints, secret: str) -> list[dict[str, Any]]:
    return [
        signed_event(endpoints.events_url, secret),
        unsigned_event(endpoints.events_url),
        unsigned_calls(endpoints.calls_url, endpoints.local),
    ]


def _check(name: str, ok: bool, answer: str, proves: str) -> dict[str, Any]:
    return {"check": name, "ok": ok, "answer": answer, "proves": proves}


def _code(reply: requests.Response) -> str | None:
    try:
        body = reply.json()
    except ValueError:
        return None
    return body.get("code") if isinstance(body, dict) else None
