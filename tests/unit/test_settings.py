"""Settings are parsed once, typed, and every problem is reported at once."""

from __future__ import annotations

import pytest

from bridge.domain.errors import ConfigurationError
from bridge.settings import (
    CallsSettings,
    CallStatusSettings,
    EnvSettings,
    FlushSettings,
    IngestSettings,
    LedgerSettings,
    ParkingSettings,
    TwilioApi,
)

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
    assert settings.limits.max_content_bytes == 10_240
    assert settings.twilio.api_base_url is None
    assert settings.twilio.retry.timeout_seconds > 0


def test_optional_values_are_read() -> None:
    settings = IngestSettings.from_env(
        {
            **BASE,
            "MAX_CONTENT_BYTES": "500",
            "TWILIO_API_BASE_URL": "http://127.0.0.1:4010",
            "TWILIO_TIMEOUT_SECONDS": "1.5",
        }
    )
    assert (settings.limits.max_content_bytes, settings.twilio.api_base_url) == (500, "http://127.0.0.1:4010")
    assert settings.twilio.retry.timeout_seconds == 1.5


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
    assert CallsSettings.from_env({"CALLS_TABLE": "calls"}).registry.max_call_seconds == 4 * 3600
    with pytest.raises(ConfigurationError, match="CALLS_TABLE"):
        CallsSettings.from_env({})


def test_each_class_names_every_variable_it_reads_and_its_groups_too() -> None:
    assert CallsSettings.env_names() == {"CALLS_TABLE", "MAX_CALL_SECONDS"}
    groups = TwilioApi.env_names() | ParkingSettings.env_names() | LedgerSettings.env_names()
    assert groups <= IngestSettings.env_names()
    assert groups <= FlushSettings.env_names()
    assert CallStatusSettings.env_names() == {
        "CALLS_TABLE",
        "TWILIO_SECRET_ID",
        "PUBLIC_BASE_URL",
        "MAX_CALL_SECONDS",
        "SECRETS_MAX_AGE_SECONDS",
    }
    # Those without a default are the ones a deployment must set
    assert CallStatusSettings.env_names(required_only=True) == {"CALLS_TABLE", "TWILIO_SECRET_ID"}


@pytest.mark.parametrize("settings", [IngestSettings, FlushSettings, CallsSettings, CallStatusSettings])
def test_every_named_variable_is_really_read(settings: type[EnvSettings]) -> None:
    # Unset, each required one is reported; set to what no number or URL can be, each of the others
    problems = []
    for env in ({}, dict.fromkeys(settings.env_names(), "\x00bad")):
        with pytest.raises(ConfigurationError) as raised:
            settings.from_env(env)
        problems.append(str(raised.value))
    for name in settings.env_names():
        assert f"{name} is required" in problems[0] or f"{name} must" in problems[1], name


def test_problems_keep_their_wording() -> None:
    with pytest.raises(ConfigurationError) as raised:
        CallStatusSettings.from_env(
            {"MAX_CALL_SECONDS": "59", "PUBLIC_BASE_URL": "ftp://x", "SECRETS_MAX_AGE_SECONDS": "1.5"}
        )
    assert str(raised.value) == (
        "invalid configuration: CALLS_TABLE is required; MAX_CALL_SECONDS must be at least 60, got '59'; "
        "TWILIO_SECRET_ID is required; PUBLIC_BASE_URL must start with https:// (or http:// locally), got 'ftp://x'; "
        "SECRETS_MAX_AGE_SECONDS must be a int, got '1.5'"
    )
    with pytest.raises(ConfigurationError, match=r"TWILIO_TIMEOUT_SECONDS must be at least 0\.1, got '0'"):
        FlushSettings.from_env({"TWILIO_TIMEOUT_SECONDS": "0"})


def test_ledger_retention_is_configured_in_days_and_kept_in_seconds() -> None:
    assert IngestSettings.from_env(BASE).ledger.retention_seconds == 14 * 86400
    assert IngestSettings.from_env({**BASE, "LEDGER_RETENTION_DAYS": "2"}).ledger.retention_seconds == 172800
    with pytest.raises(ConfigurationError, match="LEDGER_RETENTION_DAYS must be at least 1"):
        IngestSettings.from_env({**BASE, "LEDGER_RETENTION_DAYS": "0"})


def test_blank_values_count_as_unset() -> None:
    settings = FlushSettings.from_env({**BASE, "TWILIO_API_BASE_URL": "", "TWILIO_MAX_ATTEMPTS": "  "})
    assert settings.twilio.api_base_url is None
    assert settings.twilio.retry.max_attempts == 3


def test_settings_are_built_as_a_dataclass_would_build_them_and_stay_read_only() -> None:
    import dataclasses

    from bridge.settings import LedgerSettings, TwilioRetry

    # Positionally, by name, and with the fields' defaults (an inherited field's overridden default too)
    ledger = LedgerSettings("LedgerTable")
    assert (ledger.ledger_table, ledger.retention_seconds) == ("LedgerTable", 14 * 86400)
    assert (
        LedgerSettings("T", 60).retention_seconds
        == LedgerSettings(ledger_table="T", retention_seconds=60).retention_seconds
        == 60
    )
    retry = TwilioRetry(max_attempts=5)
    assert (retry.max_attempts, retry.timeout_seconds, retry.wait_past_budget) == (5, 4.0, False)

    # A missing field, an unknown one, one given twice or too many arguments are errors, as they are for a dataclass
    with pytest.raises(TypeError, match="missing 'ledger_table'"):
        LedgerSettings()
    with pytest.raises(TypeError, match="unexpected 'ledger'"):
        LedgerSettings("T", ledger="x")
    with pytest.raises(TypeError, match="multiple values for 'ledger_table'"):
        LedgerSettings("T", ledger_table="U")
    with pytest.raises(TypeError, match="takes 2 arguments, 3 given"):
        LedgerSettings("T", 1, 2)

    # And once built, nothing changes them
    with pytest.raises(dataclasses.FrozenInstanceError):
        ledger.ledger_table = "Other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del ledger.ledger_table
