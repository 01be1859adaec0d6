"""Settings parsed once per container from the environment; loud when wrong.

Each field names its environment variable, kind and minimum once, in its dataclass metadata
(`metadata=_var(...)`); its default is the field's own. One reader turns any settings class into a
value, nested groups included, and collects every problem before it raises, so one deploy fixes
them all. `env_names()` lists what a class reads, so template.yaml can be checked against it.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from collections.abc import Iterator, Mapping
from dataclasses import field
from typing import Any, Literal, Self

from bridge.domain.errors import ConfigurationError
from bridge.domain.freshness import DEFAULT_CLOCK_SKEW_SECONDS
from bridge.domain.records import Record
from bridge.domain.retry import RetryPolicy

# Twilio's Voice SDK caps a User Defined Message at 10 KB.
DEFAULT_MAX_CONTENT_BYTES = 10_240
# A Svix/Standard Webhooks sender retries for about 28 hours; remember events for longer than that.
DEFAULT_IDEMPOTENCY_TTL_SECONDS = 48 * 3600
DEFAULT_MAX_CALL_SECONDS = 4 * 3600
DEFAULT_MAX_HOLD_SECONDS = 300
DEFAULT_LEDGER_RETENTION_DAYS = 14

# required: a non-empty string; url: optional, http(s)://; int and float: optional, with a minimum.
type Kind = Literal["required", "url", "int", "float"]

_ENV = "env"


class EnvVar(Record):
    """How one field is read: its variable, its kind, its minimum, and its unit in the field's."""

    name: str
    kind: Kind
    minimum: float = 0
    # The field holds the variable's value times this (LEDGER_RETENTION_DAYS -> seconds).
    scale: int = 1


def _var(name: str, kind: Kind = "required", *, minimum: float = 0, scale: int = 1) -> dict[str, EnvVar]:
    """Field metadata: the field is read from the variable `name`; its default is the field's."""
    return {_ENV: EnvVar(name, kind, minimum, scale)}


class EnvSettings(Record):
    """What every settings class can do: read itself from the environment, and name what it reads."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Self:
        reader = _Reader(os.environ if env is None else env)
        settings = reader.read(cls)
        reader.raise_if_invalid()
        return settings

    @classmethod
    def env_names(cls, *, required_only: bool = False) -> frozenset[str]:
        """Every environment variable this class (and its groups) reads, or only those without a default."""
        return frozenset(var.name for var in _variables(cls) if not required_only or var.kind == "required")


# -- groups: each variable is declared once, in the one group that holds it -------------------------


class RetrySettings(EnvSettings):
    """How hard one invocation tries a receiver before it gives up (Twilio, or FORWARD_URL)."""

    timeout_seconds: float = 4.0
    max_attempts: int = 3
    backoff_base_seconds: float = 0.1
    backoff_cap_seconds: float = 2.0
    wait_past_budget: bool = True

    def policy(self) -> RetryPolicy:
        """The one way a retry policy is made from settings."""
        return RetryPolicy(
            max_attempts=self.max_attempts,
            attempt_timeout=self.timeout_seconds,
            base_delay=self.backoff_base_seconds,
            max_delay=self.backoff_cap_seconds,
            wait_past_budget=self.wait_past_budget,
        )


class TwilioRetry(RetrySettings):
    """Twilio: the sender is waiting, so a few short attempts before it hears 503."""

    timeout_seconds: float = field(default=4.0, metadata=_var("TWILIO_TIMEOUT_SECONDS", "float", minimum=0.1))
    max_attempts: int = field(default=3, metadata=_var("TWILIO_MAX_ATTEMPTS", "int", minimum=1))
    # Twilio asking for a pause longer than the budget: the event is parked for the flusher at once.
    wait_past_budget: bool = False


class ForwardRetry(RetrySettings):
    """The forward receiver: nobody waits on the queue's consumer, so more and longer attempts."""

    timeout_seconds: float = field(default=5.0, metadata=_var("FORWARD_TIMEOUT_SECONDS", "float", minimum=0.1))
    max_attempts: int = field(default=5, metadata=_var("FORWARD_MAX_ATTEMPTS", "int", minimum=1))
    backoff_base_seconds: float = 0.2
    backoff_cap_seconds: float = 5.0


class RegistrySettings(EnvSettings):
    """The call registry."""

    calls_table: str = field(metadata=_var("CALLS_TABLE"))
    max_call_seconds: int = field(
        default=DEFAULT_MAX_CALL_SECONDS, metadata=_var("MAX_CALL_SECONDS", "int", minimum=60)
    )


class ParkingSettings(EnvSettings):
    """Where events wait for their recipient's call, and for how long."""

    parked_table: str = field(metadata=_var("PARKED_TABLE"))
    max_hold_seconds: int = field(default=DEFAULT_MAX_HOLD_SECONDS, metadata=_var("MAX_HOLD_SECONDS", "int", minimum=0))
    default_hold_seconds: int = field(default=0, metadata=_var("DEFAULT_HOLD_SECONDS", "int", minimum=0))


class LedgerSettings(EnvSettings):
    """Where undeliverable events are recorded, and for how long."""

    ledger_table: str = field(metadata=_var("LEDGER_TABLE"))
    retention_seconds: int = field(
        default=DEFAULT_LEDGER_RETENTION_DAYS * 86400,
        metadata=_var("LEDGER_RETENTION_DAYS", "int", minimum=1, scale=86400),
    )


class IdempotencySettings(EnvSettings):
    """Events already handled, for as long as senders retry."""

    idempotency_table: str = field(metadata=_var("IDEMPOTENCY_TABLE"))
    ttl_seconds: int = field(
        default=DEFAULT_IDEMPOTENCY_TTL_SECONDS, metadata=_var("IDEMPOTENCY_TTL_SECONDS", "int", minimum=60)
    )


class SecretsSettings(EnvSettings):
    """How long a secret read from Secrets Manager is cached (a rotation is seen within it)."""

    max_age_seconds: int = field(default=300, metadata=_var("SECRETS_MAX_AGE_SECONDS", "int", minimum=0))


class TwilioAccount(EnvSettings):
    """The Twilio secret: the account SID and the auth token (or an API key) that signs and sends."""

    secret_id: str = field(metadata=_var("TWILIO_SECRET_ID"))


class TwilioApi(EnvSettings):
    """Twilio's REST API, for the functions that post to calls."""

    account: TwilioAccount
    # Unset: api.twilio.com. Only to point the twilio client at the local emulator.
    api_base_url: str | None = field(default=None, metadata=_var("TWILIO_API_BASE_URL", "url"))
    retry: TwilioRetry = TwilioRetry()


class PublicUrl(EnvSettings):
    """Scheme, host and base path senders call, for the sources that sign the URL (HubSpot, Twilio),
    when they differ from what Lambda sees (a custom domain)."""

    public_base_url: str | None = field(default=None, metadata=_var("PUBLIC_BASE_URL", "url"))


class LimitsSettings(EnvSettings):
    """What an event may be: its Content's size, and how far clocks may disagree about its time."""

    max_content_bytes: int = field(
        default=DEFAULT_MAX_CONTENT_BYTES, metadata=_var("MAX_CONTENT_BYTES", "int", minimum=2)
    )
    clock_skew_seconds: int = field(
        default=DEFAULT_CLOCK_SKEW_SECONDS, metadata=_var("CLOCK_SKEW_SECONDS", "int", minimum=0)
    )


class ForwardUrl(EnvSettings):
    """Where messages from the call go; unset, forwarding is off and nothing subscribes."""

    forward_url: str | None = field(default=None, metadata=_var("FORWARD_URL", "url"))


# -- what each function reads: its groups --------------------------------------------------------


class IngestSettings(EnvSettings):
    """POST /events."""

    registry: RegistrySettings
    idempotency: IdempotencySettings
    webhook_secret_id: str = field(metadata=_var("WEBHOOK_SECRET_ID"))
    twilio: TwilioApi
    parking: ParkingSettings
    ledger: LedgerSettings
    limits: LimitsSettings
    public: PublicUrl
    secrets: SecretsSettings


class FlushSettings(EnvSettings):
    """The flush function, fed by the calls and parked tables' streams."""

    registry: RegistrySettings
    twilio: TwilioApi
    parking: ParkingSettings
    ledger: LedgerSettings
    secrets: SecretsSettings


class CallsSettings(EnvSettings):
    """/calls/{key}."""

    registry: RegistrySettings


class CallStatusSettings(EnvSettings):
    """POST /twilio/call-status."""

    registry: RegistrySettings
    twilio: TwilioAccount
    public: PublicUrl
    secrets: SecretsSettings


def _groups_and_variables(cls: type[Any]) -> Iterator[tuple[dataclasses.Field[Any], EnvVar | type[Any]]]:
    """Each field of a settings class that is read: with its variable, or with its group's class."""
    hints = typing.get_type_hints(cls)
    for spec in dataclasses.fields(cls):
        var = spec.metadata.get(_ENV)
        if isinstance(var, EnvVar):
            yield spec, var
        elif isinstance(hints[spec.name], type) and issubclass(hints[spec.name], EnvSettings):
            yield spec, hints[spec.name]


def _variables(cls: type[Any]) -> Iterator[EnvVar]:
    for _, source in _groups_and_variables(cls):
        if isinstance(source, EnvVar):
            yield source
        else:
            yield from _variables(source)


class _Reader:
    """Reads settings classes from one environment, collecting every problem before failing."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env
        self._problems: list[str] = []

    def read[T](self, cls: type[T]) -> T:
        values: dict[str, Any] = {}
        for spec, source in _groups_and_variables(cls):
            values[spec.name] = self._value(source, spec.default) if isinstance(source, EnvVar) else self.read(source)
        return cls(**values)

    def _value(self, var: EnvVar, default: Any) -> Any:
        raw = self._env.get(var.name, "").strip() or None
        if var.kind == "required":
            if raw is None:
                self._problems.append(f"{var.name} is required")
                return ""
            return raw
        if raw is None:
            return default
        if var.kind == "url":
            if not raw.startswith(("https://", "http://")):
                self._problems.append(f"{var.name} must start with https:// (or http:// locally), got {raw!r}")
                return None
            return raw
        kind = int if var.kind == "int" else float
        try:
            value = kind(raw)
        except ValueError:
            self._problems.append(f"{var.name} must be a {kind.__name__}, got {raw!r}")
            return default
        if value < var.minimum:
            self._problems.append(f"{var.name} must be at least {var.minimum}, got {raw!r}")
            return default
        return value * var.scale

    def raise_if_invalid(self) -> None:
        if self._problems:
            raise ConfigurationError("invalid configuration: " + "; ".join(self._problems))


# -- messages from the call ----------------------------------------------------------------------


class MessagesSettings(EnvSettings):
    """POST /twilio/messages: verify with the auth token, look the call's key up, claim the message's
    Sid (in the idempotency table), queue the message."""

    registry: RegistrySettings
    idempotency: IdempotencySettings
    twilio: TwilioAccount
    messages_queue_url: str = field(metadata=_var("MESSAGES_QUEUE_URL"))
    public: PublicUrl
    secrets: SecretsSettings


class SubscribeSettings(EnvSettings):
    """The CallsTable stream: subscribe each registered SDK leg to its messages when forwarding is on."""

    registry: RegistrySettings
    twilio: TwilioApi
    forward: ForwardUrl
    public: PublicUrl
    secrets: SecretsSettings
    execute_api_url: str | None = field(default=None, metadata=_var("EXECUTE_API_URL", "url"))

    @property
    def callback_url(self) -> str | None:
        """The subscriptions' Callback, as for status callbacks: PUBLIC_BASE_URL when set, else the execute-api URL."""
        base = self.public.public_base_url or self.execute_api_url
        return base.rstrip("/") + "/twilio/messages" if base else None


class ForwardSettings(EnvSettings):
    """The queue's consumer: each message to FORWARD_URL, signed with the secret behind FORWARD_SECRET_ID."""

    forward: ForwardUrl
    forward_secret_id: str = field(metadata=_var("FORWARD_SECRET_ID"))
    retry: ForwardRetry
    ledger: LedgerSettings
    secrets: SecretsSettings
