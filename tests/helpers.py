"""Test helpers: invoke the real handlers with API Gateway HTTP API 2.0 events, load sample events."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openapi_contract import check_response

from local.lambda_runtime import http_event, response_body
from local.senders import standard_webhooks_headers

if TYPE_CHECKING:  # helpers import no moto: the stack is the integration fixtures'
    from local.stack import LocalStack

EVENTS = Path(__file__).resolve().parent.parent / "events"


def load_event(name: str) -> dict[str, Any]:
    """The sample API Gateway events in events/, shared with `sam local invoke`."""
    loaded: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return loaded


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")


def rfc3339(moment: float | None = None) -> str:
    """An RFC 3339 UTC time, now unless given: what an event's `timestamp` holds."""
    from datetime import UTC, datetime

    at = datetime.now(UTC) if moment is None else datetime.fromtimestamp(moment, tz=UTC)
    return at.isoformat(timespec="seconds").replace("+00:00", "Z")


def new_event_body(to: str | list[str], **overrides: Any) -> dict[str, Any]:
    """A default-source envelope that happened now (freshness judges it against the call)."""
    body: dict[str, Any] = {
        "type": "crm.customer.identified",
        "timestamp": rfc3339(),
        "to": to,
        "data": {"customer_id": "cus_1", "name": "Ada Lovelace", "tier": "gold"},
    }
    body.update(overrides)
    return body


class Bridge:
    """Invokes the real handlers, as named in template.yaml, with API Gateway HTTP API 2.0 events."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack

    def invoke(self, function: str, event: dict[str, Any]) -> Reply:
        response = self.stack.invoke(function, event)
        reply = Reply(int(response["statusCode"]), dict(response.get("headers") or {}), response_body(response))
        # Every answer a test sees must be one openapi.yaml describes: the document can't drift.
        check_response(event["routeKey"], reply.status, reply.headers, reply.body)
        return reply

    def post_event(
        self,
        body: dict[str, Any] | str | bytes,
        *,
        event_id: str | None = None,
        headers: dict[str, str] | None = None,
        sign: bool = True,
        secret: str | None = None,
        timestamp: float | None = None,
    ) -> Reply:
        raw = json.dumps(body) if isinstance(body, dict) else body
        signed: dict[str, str] = {"content-type": "application/json"}
        if sign:
            signed = standard_webhooks_headers(
                raw,
                secret or self.stack.credentials.webhook_secret,
                event_id=event_id or new_id(),
                timestamp=timestamp,
            )
        signed.update(headers or {})
        event = http_event("POST", "/events", route_key="POST /events", headers=signed, body=raw)
        return self.invoke("IngestFunction", event)

    def post_source(
        self, source: str, body: dict[str, Any] | list[Any] | str | bytes, headers: dict[str, str], query: str = ""
    ) -> Reply:
        """POST /events/{source} with the headers the source's own sender computed."""
        raw = json.dumps(body) if isinstance(body, dict | list) else body
        event = http_event(
            "POST",
            f"/events/{source}",
            route_key="POST /events/{source}",
            path_parameters={"source": source},
            query=query,
            headers=headers,
            body=raw,
        )
        return self.invoke("IngestFunction", event)

    def calls(
        self,
        method: str,
        key: str,
        body: dict[str, Any] | str | None = None,
        *,
        query: str = "",
        content_type: str = "application/json",
    ) -> Reply:
        raw = json.dumps(body) if isinstance(body, dict) else body
        event = http_event(
            method,
            f"/calls/{key}",
            route_key=f"{method} /calls/{{key}}",
            path_parameters={"key": key},
            query=query,
            headers={"content-type": content_type} if raw is not None else {},
            body=raw,
        )
        return self.invoke("CallsFunction", event)

    def live_call(self, key: str | None = None, status: str = "in-progress") -> tuple[str, str]:
        """A call the emulator knows, registered under a fresh key through PUT /calls/{key}."""
        key = key or f"identity:{new_id()}"
        call = self.stack.emulator.create_call(self.stack.credentials.account.account_sid, status=status)
        reply = self.calls("PUT", key, {"call_sid": call["sid"]})
        assert reply.status == 200, reply.body
        return key, str(call["sid"])

    def messages_for(self, event_key: str) -> list[dict[str, Any]]:
        """The UDMs of an event: their IdempotencyKey is the event's key and the call's SID."""
        return [m for m in self.stack.emulator.messages() if event_of(m) == event_key]


def event_of(message: dict[str, Any]) -> str:
    """The event key of a UDM the emulator received: its IdempotencyKey is `<event key>@<Call SID>`."""
    return str(message["idempotency_key"]).rpartition("@")[0]


def body_key(source: str, raw: bytes | str) -> str:
    """The event key of a delivery whose signature covers no ID or type (GitHub, Shopify): the
    digest of its signed body, parsed and written one way (sorted keys, no spaces), so a resent
    body makes no second message whatever delivery ID or type header it carries."""
    data = raw.encode("utf-8") if isinstance(raw, str) else raw
    canonical = json.dumps(json.loads(data), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return f"{source}:sha256:{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"


def new_id() -> str:
    return f"evt_{uuid.uuid4().hex}"


TWILIO_NUMBER = "+15550001111"


def new_call_sid() -> str:
    return "CA" + uuid.uuid4().hex


def status_params(
    call_sid: str,
    status: str,
    *,
    to: str,
    from_: str,
    parent: str | None = None,
    seq: int | None = None,
    timestamp: float | None = None,
    account_sid: str = "AC" + "0" * 32,
) -> dict[str, str]:
    """The form fields of a Twilio call status callback."""
    from email.utils import formatdate

    params = {
        "AccountSid": account_sid,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid,
        "CallStatus": status,
        "Called": to,
        "Caller": from_,
        "Direction": "outbound-dial" if parent else "inbound",
        "From": from_,
        "To": to,
        "Timestamp": formatdate(timestamp, usegmt=False),
    }
    if parent:
        params["ParentCallSid"] = parent
    if seq is not None:
        params["SequenceNumber"] = str(seq)
        params["CallbackSource"] = "call-progress-events"
    return params


def post_callback(
    bridge: Bridge,
    params: dict[str, str],
    *,
    query: str = "",
    token: str | None = None,
    signature: str | None = None,
    host: str = "127.0.0.1:3000",
    path: str = "/twilio/call-status",
    signed_url: str | None = None,
) -> Reply:
    """POST /twilio/call-status as Twilio sends it: a form body, signed over https + Host + path + query."""
    from urllib.parse import urlencode

    from twilio.request_validator import RequestValidator

    url = signed_url or f"https://{host}{path}" + (f"?{query}" if query else "")
    if signature is None:
        secret = token or bridge.stack.credentials.account.auth_token
        signature = RequestValidator(secret).compute_signature(url, params)
    event = http_event(
        "POST",
        path,
        route_key="POST /twilio/call-status",
        query=query,
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "x-twilio-signature": signature,
            "user-agent": "TwilioProxy/1.1",
        },
        body=urlencode(params),
        host=host,
    )
    return bridge.invoke("CallStatusFunction", event)


def ledger_entry(stack: LocalStack, event_key: str) -> dict[str, Any] | None:
    item = stack.client("dynamodb").get_item(TableName="LedgerTable", Key={"event_key": {"S": event_key}}).get("Item")
    return {name: next(iter(value.values())) for name, value in item.items()} if item else None


def wait_for(condition: Any, timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Polls until `condition()` is truthy (stream and TTL work happens in the background)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


# -- messages from the call -------------------------------------------------------------------------

MESSAGES_HOST = "127.0.0.1:3000"


def new_message_sid() -> str:
    return "KX" + uuid.uuid4().hex


def owned_call(stack: LocalStack, key: str | None = None) -> tuple[str, str]:
    """A Call SID whose owner item names `key`, as the subscriber leaves it."""
    import time

    from bridge.adapters.dynamodb.call_owners import DynamoCallOwners

    key = key or f"identity:{new_id()}"
    call_sid = new_call_sid()
    DynamoCallOwners("CallsTable", stack.client("dynamodb")).claim(call_sid, key, int(time.time()) + 600)
    return key, call_sid


def message_params(call_sid: str, sid: str, content: str = '{"verified":true}', seq: int = 1) -> dict[str, str]:
    """The form fields of a call message, as Twilio posts them to the subscription's Callback."""
    return {
        "AccountSid": "AC" + "0" * 32,
        "CallSid": call_sid,
        "Sid": sid,
        "ContentType": "application/json",
        "Content": content,
        "SequenceNumber": str(seq),
    }


def send_message(
    bridge: Bridge,
    params: dict[str, str],
    *,
    as_json: bool = False,
    token: str | None = None,
    signature: str | None = None,
    body_hash: bool = True,
    form: str | None = None,
) -> Reply:
    """POST /twilio/messages as Twilio sends it, signed over https + Host + path (+ bodySHA256 for JSON).

    `form` is the form body exactly as sent (another spelling of `params`); the signature is over `params`."""
    from urllib.parse import urlencode

    from twilio.request_validator import RequestValidator

    token = token or bridge.stack.credentials.account.auth_token
    url, query = f"https://{MESSAGES_HOST}/twilio/messages", ""
    if as_json:
        body = json.dumps(params)
        if body_hash:
            query = "bodySHA256=" + hashlib.sha256(body.encode()).hexdigest()
            url += "?" + query
        computed = RequestValidator(token).compute_signature(url, {})
        content_type = "application/json"
    else:
        body = urlencode(params) if form is None else form
        computed = RequestValidator(token).compute_signature(url, params)
        content_type = "application/x-www-form-urlencoded"
    event = http_event(
        "POST",
        "/twilio/messages",
        route_key="POST /twilio/messages",
        query=query,
        headers={"content-type": content_type, "x-twilio-signature": computed if signature is None else signature},
        body=body,
        host=MESSAGES_HOST,
    )
    return bridge.invoke("MessagesFunction", event)


def post_message(bridge: Bridge, params: dict[str, str], **options: Any) -> int:
    """send_message's status."""
    return send_message(bridge, params, **options).status
