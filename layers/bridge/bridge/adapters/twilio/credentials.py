"""The bridge's Twilio credentials, as the Twilio secret holds them: no twilio import needed."""

from __future__ import annotations

import json
from typing import Any

from bridge.domain.errors import ConfigurationError
from bridge.domain.records import Record


class TwilioCredentials(Record):
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
