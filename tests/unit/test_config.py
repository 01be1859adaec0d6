"""Settings are parsed once, typed, and every problem is reported at once."""

from __future__ import annotations

import pytest

from bridge.config import CallsSettings, IngestSettings
from bridge.errors import ConfigurationError

BASE = {
    "CALLS_TABLE": "calls",
    "IDEMPOTENCY_TABLE": "idem",
    "TWILIO_SECRET_ID": "arn:twilio",
    "WEBHOOK_SECRET_ID": "arn:webhook",
    "PARKED_TABLE": "parked",
    "LEDGER_TABLE": "ledger",
}


def test_defaults_follow_the_contract() -> None:
    settings = IngestSettings.from_env(BASE)
    assert settings.max_content_bytes == 10_240
    assert settings.twilio.api_base_url is None
    assert settings.twilio.delivery.timeout_seconds > 0
    assert settings.twilio.delivery.reserve_seconds >= 1.0


def test_optional_values_are_read() -> None:
    settings = IngestSettings.from_env(
        {
            **BASE,
            "MAX_CONTENT_BYTES": "500",
            "TWILIO_API_BASE_URL": "http://127.0.0.1:4010",
            "TWILIO_TIMEOUT_SECONDS": "1.5",
        }
    )
    assert (settings.max_content_bytes, settings.twilio.api_base_url) == (500, "http://127.0.0.1:4010")
    assert settings.twilio.delivery.timeout_seconds == 1.5


def test_every_problem_is_reported_in_one_error() -> None:
    with pytest.raises(ConfigurationError) as raised:
        IngestSettings.from_env({"CALLS_TABLE": "calls", "MAX_CONTENT_BYTES": "ten", "TWILIO_TIMEOUT_SECONDS": "0"})
    message = str(raised.value)
    for expected in (
        "IDEMPOTENCY_TABLE",
        "TWILIO_SECRET_ID",
        "WEBHOOK_SECRET_ID",
        "MAX_CONTENT_BYTES",
        "TWILIO_TIMEOUT",
    ):
        assert expected in message


def test_calls_function_needs_only_its_table() -> None:
    assert CallsSettings.from_env({"CALLS_TABLE": "calls"}).max_call_seconds == 4 * 3600
    with pytest.raises(ConfigurationError, match="CALLS_TABLE"):
        CallsSettings.from_env({})
