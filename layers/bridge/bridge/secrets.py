"""Secrets from Secrets Manager through Powertools Parameters, cached per container."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.config import Config
from botocore.exceptions import ClientError

from bridge.errors import ConfigurationError, StoreUnavailable
from bridge.signatures import parse_secrets

# Missing or forbidden secrets are the deployment's fault, not a passing failure.
_PERMANENT_CODES = {"ResourceNotFoundException", "AccessDeniedException", "InvalidRequestException"}


@dataclass(frozen=True)
class TwilioCredentials:
    """Either the auth token, or an API key pair, authenticates REST calls."""

    account_sid: str
    auth_token: str | None = None
    api_key_sid: str | None = None
    api_key_secret: str | None = None

    @classmethod
    def parse(cls, raw: str) -> TwilioCredentials:
        try:
            value: Any = json.loads(raw)
        except ValueError:
            raise ConfigurationError("the Twilio secret is not a JSON object") from None
        if not isinstance(value, dict):
            raise ConfigurationError("the Twilio secret is not a JSON object")
        fields = {
            name: value.get(name) if isinstance(value.get(name), str) and value.get(name) else None
            for name in ("account_sid", "auth_token", "api_key_sid", "api_key_secret")
        }
        credentials = cls(**fields)  # type: ignore[arg-type]
        has_key = credentials.api_key_sid and credentials.api_key_secret
        if not credentials.account_sid or not (credentials.auth_token or has_key):
            raise ConfigurationError(
                "the Twilio secret needs account_sid and either auth_token or api_key_sid + api_key_secret"
            )
        return credentials

    @property
    def username(self) -> str:
        return self.api_key_sid if self.api_key_sid and self.api_key_secret else self.account_sid

    @property
    def password(self) -> str:
        if self.api_key_sid and self.api_key_secret:
            return self.api_key_secret
        return self.auth_token or ""

    def __repr__(self) -> str:
        # Keep tokens out of tracebacks and logs.
        return f"TwilioCredentials(account_sid={self.account_sid!r}, username={self.username!r})"


class SecretStore:
    def __init__(self, max_age_seconds: int, boto_config: Config | None = None) -> None:
        self._max_age = max_age_seconds
        self._provider = SecretsProvider(boto_config=boto_config)
        # Parsed once per secret value, not once per event: the raw value only changes on rotation.
        self._parsed: dict[tuple[str, str], Any] = {}

    def twilio_credentials(self, secret_id: str) -> TwilioCredentials:
        credentials: TwilioCredentials = self._parse(secret_id, TwilioCredentials.parse)
        return credentials

    def webhook_secrets(self, secret_id: str) -> dict[str, tuple[str, ...]]:
        """Secrets by source name; the old single-secret formats belong to `default`."""
        secrets: dict[str, tuple[str, ...]] = self._parse(secret_id, parse_secrets)
        return secrets

    def _parse(self, secret_id: str, parse: Any) -> Any:
        raw = self._fetch(secret_id)
        key = (secret_id, raw)
        if key not in self._parsed:
            self._parsed = {k: v for k, v in self._parsed.items() if k[0] != secret_id}
            self._parsed[key] = parse(raw)
        return self._parsed[key]

    def _fetch(self, secret_id: str) -> str:
        try:
            value = self._provider.get(secret_id, max_age=self._max_age)
        except GetParameterError as error:
            cause = error.__context__
            code = cause.response.get("Error", {}).get("Code") if isinstance(cause, ClientError) else None
            if code in _PERMANENT_CODES:
                raise ConfigurationError(f"secret {secret_id} cannot be read ({code})") from None
            raise StoreUnavailable("Secrets Manager is unavailable.", retry_after=2) from None
        if isinstance(value, bytes):
            value = value.decode("utf-8", errors="replace")
        return str(value or "")
