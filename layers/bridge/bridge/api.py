"""HTTP API resolvers and the one place a domain error becomes an RFC 9457 problem response."""

from __future__ import annotations

import base64
import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError

from bridge.errors import BridgeError, RouteNotFound
from bridge.model import HttpRequest
from bridge.observability import logger, record_outcome

PROBLEM_JSON = "application/problem+json"

_MESSAGES = {
    "rejected": "request rejected",
    "no_active_call": "no active call",
    "twilio_error": "twilio did not take the message",
    "unavailable": "backing store unavailable",
    "error": "bridge misconfigured",
}


# The log line of each accepted outcome (delivered, parked, stale, ignored).
_ACCEPTED_MESSAGES = {
    "delivered": "udm delivered",
    "parked": "event parked",
    "stale": "event too old for the recipient's call",
    "ignored": "event concerns no one",
}


def ingest_app() -> APIGatewayHttpResolver:
    """The resolver of POST /events and POST /events/{source}; `/events` is the `default` source."""
    from bridge.ingest import PARKED
    from bridge.model import DEFAULT_SOURCE
    from bridge.runtime import ingest_service
    from bridge.sources import load_profiles

    app = _resolver()

    # Fail at init, not on the first event, when the shipped source profiles are invalid.
    load_profiles()

    @app.post("/events")
    @app.post("/events/<source>")
    def receive(source: str = DEFAULT_SOURCE) -> Response[str]:
        # Read the event before anything else: locally, invocations share this resolver across threads.
        request = _request(app)
        accepted = ingest_service().handle(request, app.lambda_context, source)
        body = accepted.body
        parked = accepted.status == PARKED
        record_outcome(
            accepted.status,
            _ACCEPTED_MESSAGES.get(accepted.status, "udm delivered"),
            level="warning" if accepted.status == "stale" else "info",
            source=accepted.source,
            event_id=body["event_id"],
            reason=body.get("reason"),
            event_type=body.get("type"),
            detail=body.get("detail"),
            recipient=body.get("recipient"),
            expires_at=body.get("expires_at"),
            call_sid=body.get("call_sid"),
            message_sid=body.get("message_sid"),
            replayed=accepted.replayed,
        )
        headers = {"Idempotent-Replayed": "true"} if accepted.replayed else {}
        # 202: accepted, and delivered once the recipient's call registers (or recorded as expired).
        # 200 also for stale and ignored: no retry can change them, so the sender must not retry.
        return _json(202 if parked else 200, body, headers)

    return app


def calls_app() -> APIGatewayHttpResolver:
    """The resolver of /calls/{key}."""
    from bridge.runtime import calls_service as build

    app = _resolver()

    @app.put("/calls/<key>")
    def put_call(key: str) -> Response[str]:
        call = build().register(key, _raw_body(app), _headers(app).get("content-type", ""))
        record_outcome("registered", "call registered", recipient=call.key, call_sid=call.call_sid)
        return _json(200, call.as_dict())

    @app.get("/calls/<key>")
    def get_call(key: str) -> Response[str]:
        found = build().get(key)
        record_outcome("looked_up", "call looked up", recipient=found["key"], call_sid=found["call_sid"])
        return _json(200, found)

    @app.delete("/calls/<key>")
    def delete_call(key: str) -> Response[str]:
        call_sid = app.current_event.get_query_string_value("call_sid")
        build().remove(key, call_sid)
        record_outcome("unregistered", "call unregistered", recipient=key, call_sid=call_sid)
        return Response(status_code=204)

    return app


def call_status_app() -> APIGatewayHttpResolver:
    """The resolver of POST /twilio/call-status; answers 204 at once so Twilio doesn't retry."""
    from bridge.runtime import call_status_service as build

    app = _resolver()

    @app.post("/twilio/call-status")
    def call_status() -> Response[str]:
        request = _request(app)
        applied = build().handle(request)
        record_outcome(
            applied.action,
            "callback ignored" if applied.action == "ignored" else "registry changed",
            reason=applied.reason if applied.action == "ignored" else None,
            recipient=applied.key,
            call_sid=applied.call_sid,
            call_status=applied.status,
            active_call=applied.change.active if applied.change else None,
        )
        return Response(status_code=204)

    return app


def messages_app() -> APIGatewayHttpResolver:
    """The resolver of POST /twilio/messages: verified, queued, 204; the forwarder does the rest."""
    from bridge.runtime import messages_service as build

    app = _resolver()

    @app.post("/twilio/messages")
    def message() -> Response[str]:
        request = _request(app)
        received = build().handle(request)
        record_outcome(
            received.action,
            "call message queued" if received.action == "queued" else "call message ignored",
            reason=received.reason,
            recipient=received.key,
            call_sid=received.call_sid,
            message_sid=received.message_sid,
        )
        return Response(status_code=204)

    return app


def _resolver() -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver()

    @app.exception_handler(BridgeError)
    def bridge_error(error: BridgeError) -> Response[str]:
        return _failed(error)

    @app.not_found
    def not_found(_: NotFoundError) -> Response[str]:
        return _failed(RouteNotFound("No route matches this method and path."))

    @app.exception_handler(Exception)
    def unexpected(error: Exception) -> Response[str]:
        logger.exception("unexpected error")
        return _failed(BridgeError("Unexpected error."))

    return app


def _failed(error: BridgeError) -> Response[str]:
    fields: dict[str, Any] = {"status": error.status, "reason": error.code}
    twilio_code = getattr(error, "twilio_code", None)
    if twilio_code is not None:
        fields["twilio_code"] = twilio_code
    level = "error" if error.status >= 500 else "warning" if error.status in (401, 409) else "info"
    message = _MESSAGES.get(error.outcome, "request failed")
    record_outcome(error.outcome, message, level=level, detail=error.detail, **fields)
    return problem_response(error)


def problem_response(error: BridgeError) -> Response[str]:
    body = error.problem()
    if error.status == 500:
        # The operator reads the cause in the logs; the sender learns only that it wasn't its fault.
        body["detail"] = "The bridge could not process the event. This is not a problem with the request."
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after is not None else {}
    return Response(status_code=error.status, content_type=PROBLEM_JSON, body=json.dumps(body), headers=headers)


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response[str]:
    return Response(status_code=status, content_type="application/json", body=json.dumps(body), headers=headers)


def _request(app: APIGatewayHttpResolver) -> HttpRequest:
    """The request as the use cases see it: raw body, lower-case headers, and what the sender called."""
    event = app.current_event
    headers = _headers(app)
    return HttpRequest(
        body=_raw_body(app),
        headers=headers,
        host=headers.get("host", ""),
        raw_path=event.raw_event.get("rawPath", ""),
        raw_query=event.raw_event.get("rawQueryString", ""),
        method=event.request_context.http.method,
    )


def _raw_body(app: APIGatewayHttpResolver) -> bytes:
    event = app.current_event
    body = event.body or ""
    # HTTP APIs base64-encode bodies whose media type they don't treat as text.
    return base64.b64decode(body) if event.is_base64_encoded else body.encode("utf-8")


def _headers(app: APIGatewayHttpResolver) -> dict[str, str]:
    return {name.lower(): value for name, value in (app.current_event.headers or {}).items()}
