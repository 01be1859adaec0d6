"""HTTP API resolvers: each route reads its request, calls one use case with a Deadline, and answers,
logs and counts its typed result through the one outcome table (bridge.entrypoints.outcomes).
The one place a domain error becomes an RFC 9457 problem response.

Each route reads its request before anything else, building its use case included. Powertools keeps
the event being resolved on a class, one per process: Lambda runs one invocation per process at a
time, and the local runtime gives each concurrent invocation its own (local/lambda_runtime.py)."""

from __future__ import annotations

import base64
import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError

from bridge.domain.errors import BatchUnsettled, BridgeError, RouteNotFound
from bridge.domain.inbound import HttpRequest
from bridge.domain.outcomes import Happening, Outcome
from bridge.domain.retry import Deadline
from bridge.entrypoints.outcomes import OUTCOMES, record, record_error, record_happened
from bridge.observability import logger
from bridge.usecases.ingest_results import BatchResult, EventResult, Refused

PROBLEM_JSON = "application/problem+json"


def ingest_app() -> APIGatewayHttpResolver:
    """The resolver of POST /events and POST /events/{source}; `/events` is the `default` source."""
    from bridge.bootstrap import ingest
    from bridge.domain.events import DEFAULT_SOURCE
    from bridge.sources.cards import load_cards
    from bridge.sources.profiles import load_profiles

    app = _resolver()

    # Fail at init, not on the first event, when the shipped source profiles or cards.json are invalid.
    # Card specs compile per source at its first event (~14 ms less Init); the unit tests compile them all.
    load_profiles()
    load_cards()

    @app.post("/events")
    @app.post("/events/<source>")
    def receive(source: str = DEFAULT_SOURCE) -> Response[str]:
        request, deadline = _request(app), _deadline(app)
        result = ingest().handle(request, deadline, source)
        if isinstance(result, BatchResult):
            return _batch(result)
        record_happened(result.also)
        record(result.outcome, **result.fields())
        headers = {"Idempotent-Replayed": "true"} if result.replayed else {}
        return _json(_status(result), result.body(), headers)

    return app


def _status(result: EventResult) -> int:
    status = OUTCOMES[result.outcome].status
    assert status is not None, result.outcome  # every outcome ingest returns is answered
    return status


def _batch(batch: BatchResult) -> Response[str]:
    """Each event of a batch is logged and counted as its own; the sender hears 2xx once every one
    is settled, else 503 with what is settled so far (its retry redoes only the rest)."""
    for item in batch.events:
        if isinstance(item, EventResult):
            record_happened(item.also)
            record_happened([Happening(item.outcome, item.fields())])
        else:
            record_happened(
                [
                    Happening(
                        Outcome.REJECTED if isinstance(item, Refused) else Outcome.UNAVAILABLE,
                        {"source": batch.source, **item.body()},
                    )
                ]
            )
    if batch.settled:
        return _json(200, batch.body())
    unsettled = BatchUnsettled(
        "Some events of the batch hit a failure a retry may fix.", retry_after=batch.retry_after, **batch.body()
    )
    return problem_response(unsettled)


def calls_app() -> APIGatewayHttpResolver:
    """The resolver of /calls/{key}."""
    from bridge.bootstrap import calls

    app = _resolver()

    @app.put("/calls/<key>")
    def put_call(key: str) -> Response[str]:
        body, content_type = _raw_body(app), _headers(app).get("content-type", "")
        call = calls().register(key, body, content_type)
        record(Outcome.REGISTERED, recipient=call.key, call_sid=call.call_sid)
        return _json(200, call.as_dict())

    @app.get("/calls/<key>")
    def get_call(key: str) -> Response[str]:
        found = calls().get(key)
        record(Outcome.LOOKED_UP, recipient=found["key"], call_sid=found["call_sid"])
        return _json(200, found)

    @app.delete("/calls/<key>")
    def delete_call(key: str) -> Response[str]:
        call_sid = app.current_event.get_query_string_value("call_sid")
        calls().remove(key, call_sid)
        record(Outcome.UNREGISTERED, recipient=key, call_sid=call_sid)
        return Response(status_code=204)

    return app


def call_status_app() -> APIGatewayHttpResolver:
    """The resolver of POST /twilio/call-status; answers 204 at once so Twilio doesn't retry."""
    from bridge.bootstrap import call_status

    app = _resolver()

    @app.post("/twilio/call-status")
    def callback() -> Response[str]:
        request = _request(app)
        applied = call_status().handle(request)
        record_happened(applied.also())
        record(applied.outcome, **applied.fields())
        return Response(status_code=204)

    return app


def messages_app() -> APIGatewayHttpResolver:
    """The resolver of POST /twilio/messages: verified, queued, 204; the forwarder does the rest."""
    from bridge.bootstrap import call_message_in

    app = _resolver()

    @app.post("/twilio/messages")
    def message() -> Response[str]:
        request, deadline = _request(app), _deadline(app)
        received = call_message_in().handle(request, deadline)
        record(
            received.outcome,
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
    record_error(error)
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


def _deadline(app: APIGatewayHttpResolver) -> Deadline:
    return Deadline(app.lambda_context.get_remaining_time_in_millis)


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
