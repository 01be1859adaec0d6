"""Secrets from Secrets Manager through Powertools Parameters, cached per container."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.exceptions import ClientError

from bridge.domain.errors import ConfigurationError, StoreUnavailable

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager.client import SecretsManagerClient

# Missing or forbidden secrets are the deployment's fault, not a passing failure.
_PERMANENT_CODES = {"ResourceNotFoundException", "AccessDeniedException", "InvalidRequestException"}


class SecretStore:
    def __init__(self, max_age_seconds: int, client: SecretsManagerClient) -> None:
        self._max_age = max_age_seconds
        # The caller's client: one botocore session per container (see runtime.secretsmanager).
        self._provider = SecretsProvider(boto3_client=client)
        # Parsed once per secret value, not once per event: the raw value only changes on rotation.
        self._parsed: dict[tuple[str, str], Any] = {}

    def reader[T](self, secret_id: str, parse: Callable[[str], T]) -> Callable[[], T]:
        """A function that returns the secret's current value, parsed."""
        return lambda: self.parsed(secret_id, parse)

    def parsed[T](self, secret_id: str, parse: Callable[[str], T]) -> T:
        raw = self._fetch(secret_id)
        key = (secret_id, raw)
        if key not in self._parsed:
            self._parsed = {k: v for k, v in self._parsed.items() if k[0] != secret_id}
            self._parsed[key] = parse(raw)
        value: T = self._parsed[key]
        return value

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
