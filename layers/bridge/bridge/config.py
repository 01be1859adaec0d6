"""Settings parsed once per container from the environment; loud when wrong."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from bridge.errors import ConfigurationError

# Twilio's Voice SDK caps a User Defined Message at 10 KB.
DEFAULT_MAX_CONTENT_BYTES = 10_240
# A Svix/Standard Webhooks sender retries for about 28 hours; remember events for longer than that.
DEFAULT_IDEMPOTENCY_TTL_SECONDS = 48 * 3600
DEFAULT_MAX_CALL_SECONDS = 4 * 3600
DEFAULT_MAX_HOLD_SECONDS = 300
DEFAULT_LEDGER_RETENTION_DAYS = 14


@dataclass(frozen=True)
class DeliverySettings:
    """How hard one invocation may try Twilio before it gives the sender a 503."""

    timeout_seconds: float = 4.0
    max_attempts: int = 3
    # Time kept back from the Lambda deadline so the answer always gets out.
    reserve_seconds: float = 1.0
    backoff_base_seconds: float = 0.1
    backoff_cap_seconds: float = 2.0


@dataclass(frozen=True)
class ParkingSettings:
    """Where parked events wait, and where undeliverable ones are recorded."""

    parked_table: str
    ledger_table: str
    max_hold_seconds: int = DEFAULT_MAX_HOLD_SECONDS
    default_hold_seconds: int = 0
    ledger_retention_seconds: int = DEFAULT_LEDGER_RETENTION_DAYS * 86400

    @classmethod
    def read(cls, reader: _Reader) -> ParkingSettings:
        return cls(
            parked_table=reader.required("PARKED_TABLE"),
            ledger_table=reader.required("LEDGER_TABLE"),
            max_hold_seconds=reader.integer("MAX_HOLD_SECONDS", DEFAULT_MAX_HOLD_SECONDS, minimum=0),
            default_hold_seconds=reader.integer("DEFAULT_HOLD_SECONDS", 0, minimum=0),
            ledger_retention_seconds=86400
            * reader.integer("LEDGER_RETENTION_DAYS", DEFAULT_LEDGER_RETENTION_DAYS, minimum=1),
        )


@dataclass(frozen=True)
class TwilioSettings:
    """Where the credentials are, how long secrets are cached, and how hard delivery tries."""

    secret_id: str
    api_base_url: str | None = None
    secrets_max_age_seconds: int = 300
    delivery: DeliverySettings = DeliverySettings()

    @classmethod
    def read(cls, reader: _Reader) -> TwilioSettings:
        return cls(
            secret_id=reader.required("TWILIO_SECRET_ID"),
            api_base_url=reader.url("TWILIO_API_BASE_URL"),
            secrets_max_age_seconds=reader.integer("SECRETS_MAX_AGE_SECONDS", 300, minimum=0),
            delivery=DeliverySettings(
                timeout_seconds=reader.number("TWILIO_TIMEOUT_SECONDS", 4.0, minimum=0.1),
                max_attempts=reader.integer("TWILIO_MAX_ATTEMPTS", 3, minimum=1),
            ),
        )


@dataclass(frozen=True)
class FlushSettings:
    calls_table: str
    twilio: TwilioSettings
    parking: ParkingSettings
    max_call_seconds: int = DEFAULT_MAX_CALL_SECONDS

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> FlushSettings:
        reader = _Reader(os.environ if env is None else env)
        settings = cls(
            calls_table=reader.required("CALLS_TABLE"),
            twilio=TwilioSettings.read(reader),
            parking=ParkingSettings.read(reader),
            max_call_seconds=reader.integer("MAX_CALL_SECONDS", DEFAULT_MAX_CALL_SECONDS, minimum=60),
        )
        reader.raise_if_invalid()
        return settings


@dataclass(frozen=True)
class IngestSettings:
    calls_table: str
    idempotency_table: str
    webhook_secret_id: str
    twilio: TwilioSettings
    parking: ParkingSettings
    max_content_bytes: int = DEFAULT_MAX_CONTENT_BYTES
    idempotency_ttl_seconds: int = DEFAULT_IDEMPOTENCY_TTL_SECONDS
    max_call_seconds: int = DEFAULT_MAX_CALL_SECONDS

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> IngestSettings:
        reader = _Reader(os.environ if env is None else env)
        settings = cls(
            calls_table=reader.required("CALLS_TABLE"),
            idempotency_table=reader.required("IDEMPOTENCY_TABLE"),
            webhook_secret_id=reader.required("WEBHOOK_SECRET_ID"),
            twilio=TwilioSettings.read(reader),
            parking=ParkingSettings.read(reader),
            max_content_bytes=reader.integer("MAX_CONTENT_BYTES", DEFAULT_MAX_CONTENT_BYTES, minimum=2),
            idempotency_ttl_seconds=reader.integer(
                "IDEMPOTENCY_TTL_SECONDS", DEFAULT_IDEMPOTENCY_TTL_SECONDS, minimum=60
            ),
            max_call_seconds=reader.integer("MAX_CALL_SECONDS", DEFAULT_MAX_CALL_SECONDS, minimum=60),
        )
        reader.raise_if_invalid()
        return settings


@dataclass(frozen=True)
class CallsSettings:
    calls_table: str
    max_call_seconds: int = DEFAULT_MAX_CALL_SECONDS

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> CallsSettings:
        reader = _Reader(os.environ if env is None else env)
        settings = cls(
            calls_table=reader.required("CALLS_TABLE"),
            max_call_seconds=reader.integer("MAX_CALL_SECONDS", DEFAULT_MAX_CALL_SECONDS, minimum=60),
        )
        reader.raise_if_invalid()
        return settings


@dataclass(frozen=True)
class CallStatusSettings:
    calls_table: str
    twilio_secret_id: str
    # Scheme, host and base path Twilio calls, when they differ from what Lambda sees.
    public_base_url: str | None = None
    max_call_seconds: int = DEFAULT_MAX_CALL_SECONDS
    secrets_max_age_seconds: int = 300

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> CallStatusSettings:
        reader = _Reader(os.environ if env is None else env)
        settings = cls(
            calls_table=reader.required("CALLS_TABLE"),
            twilio_secret_id=reader.required("TWILIO_SECRET_ID"),
            public_base_url=reader.url("PUBLIC_BASE_URL"),
            max_call_seconds=reader.integer("MAX_CALL_SECONDS", DEFAULT_MAX_CALL_SECONDS, minimum=60),
            secrets_max_age_seconds=reader.integer("SECRETS_MAX_AGE_SECONDS", 300, minimum=0),
        )
        reader.raise_if_invalid()
        return settings


class _Reader:
    """Collects every problem before failing, so one deploy fixes them all."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env
        self._problems: list[str] = []

    def optional(self, name: str) -> str | None:
        value = self._env.get(name, "").strip()
        return value or None

    def required(self, name: str) -> str:
        value = self.optional(name)
        if value is None:
            self._problems.append(f"{name} is required")
            return ""
        return value

    def url(self, name: str) -> str | None:
        value = self.optional(name)
        if value is not None and not value.startswith(("https://", "http://")):
            self._problems.append(f"{name} must start with https:// (or http:// locally), got {value!r}")
            return None
        return value

    def integer(self, name: str, default: int, *, minimum: int) -> int:
        return int(self._parse(name, default, int, minimum))

    def number(self, name: str, default: float, *, minimum: float) -> float:
        return float(self._parse(name, default, float, minimum))

    def _parse(self, name: str, default: float, kind: type[int] | type[float], minimum: float) -> float:
        raw = self.optional(name)
        if raw is None:
            return default
        try:
            value = kind(raw)
        except ValueError:
            self._problems.append(f"{name} must be a {kind.__name__}, got {raw!r}")
            return default
        if value < minimum:
            self._problems.append(f"{name} must be at least {minimum}, got {raw!r}")
            return default
        return value

    def raise_if_invalid(self) -> None:
        if self._problems:
            raise ConfigurationError("invalid configuration: " + "; ".join(self._problems))
