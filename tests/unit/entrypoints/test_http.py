"""Domain errors become RFC 9457 problems in one place, with the right status and headers."""

from __future__ import annotations

import json

from bridge.domain.errors import (
    BridgeError,
    ConfigurationError,
    EventInProgress,
    NoActiveCall,
    SchemaViolation,
    StoreUnavailable,
    TwilioCredentialsRejected,
)
from bridge.entrypoints.http import problem_response


def rendered(error: BridgeError) -> tuple[int, dict[str, str], dict[str, object]]:
    response = problem_response(error)
    return response.status_code, dict(response.headers), json.loads(str(response.body))


def test_problem_has_the_rfc_9457_members() -> None:
    status, headers, body = rendered(NoActiveCall("identity:a has no active call.", recipient="identity:a"))
    assert status == 404
    assert headers["Content-Type"] == "application/problem+json"
    assert body == {
        "type": "urn:udm-bridge:problem:no_active_call",
        "title": "The recipient has no active call",
        "status": 404,
        "detail": "identity:a has no active call.",
        "code": "no_active_call",
        "recipient": "identity:a",
    }


def test_extensions_carry_the_schema_errors() -> None:
    _, _, body = rendered(SchemaViolation("1 violation", errors=[{"pointer": "/to", "message": "too long"}]))
    assert body["errors"] == [{"pointer": "/to", "message": "too long"}]


def test_retryable_answers_carry_retry_after() -> None:
    assert rendered(EventInProgress("busy", retry_after=1))[1]["Retry-After"] == "1"
    assert rendered(StoreUnavailable("down", retry_after=2))[1]["Retry-After"] == "2"


def test_twilio_errors_are_a_502_with_twilio_code() -> None:
    status, _, body = rendered(TwilioCredentialsRejected("no", twilio_code=20003))
    assert (status, body["twilio_code"]) == (502, 20003)


def test_server_side_details_are_not_revealed() -> None:
    status, _, body = rendered(ConfigurationError("secret arn:aws:secretsmanager:...:twilio cannot be read"))
    assert status == 500
    assert "arn:" not in json.dumps(body)
