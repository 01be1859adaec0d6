"""DynamoDB's failures as domain errors, for every table adapter."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from bridge.domain.errors import BridgeError, ConfigurationError, StoreUnavailable

TRANSIENT_CODES = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
}
PERMANENT_CODES = {"ResourceNotFoundException", "AccessDeniedException", "UnrecognizedClientException"}
CONDITION_FAILED = "ConditionalCheckFailedException"


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class store_errors:  # noqa: N801 - used as a lowercase context manager, like contextlib's
    """Turns SDK failures into domain errors; `passthrough` codes are re-raised for the caller."""

    def __init__(self, what: str = "DynamoDB", passthrough: str | None = None) -> None:
        self._what = what
        self._passthrough = passthrough

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: Any) -> None:
        if error is None:
            return
        if isinstance(error, ClientError):
            code = error_code(error)
            if code == self._passthrough:
                return
            if code in TRANSIENT_CODES:
                raise StoreUnavailable(f"The {self._what} store is unavailable.", retry_after=1) from error
            if code in PERMANENT_CODES:
                raise ConfigurationError(f"DynamoDB refused a {self._what} request ({code})") from error
            raise BridgeError(f"DynamoDB failed a {self._what} request ({code})") from error
        if isinstance(error, BotoCoreError):
            raise StoreUnavailable(f"The {self._what} store is unreachable.", retry_after=1) from error
