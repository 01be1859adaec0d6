"""The call registry: recipient key -> the Call SID to message. DynamoDB behind a small port.

Ingest reads it with exactly one GetItem per event; nothing here scans.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from bridge.errors import BridgeError, CallMismatch, CallNotFound, ConfigurationError, StoreUnavailable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

_TRANSIENT_CODES = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
}
_PERMANENT_CODES = {"ResourceNotFoundException", "AccessDeniedException", "UnrecognizedClientException"}


@dataclass(frozen=True)
class ActiveCall:
    key: str
    call_sid: str
    expires_at: int

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "call_sid": self.call_sid, "expires_at": self.expires_at}


class CallRegistry(Protocol):
    def active_call(self, key: str) -> ActiveCall | None: ...

    def register(self, key: str, call_sid: str, ttl_seconds: int) -> ActiveCall: ...

    def remove(self, key: str, call_sid: str | None = None) -> None: ...

    def forget_stale(self, key: str, call_sid: str) -> bool: ...


class DynamoCallRegistry:
    """One item per recipient key: {recipient, call_sid, expires_at (TTL), registered_at}."""

    def __init__(self, table_name: str, client: DynamoDBClient, clock: Any = time.time) -> None:
        self._table = table_name
        self._client = client
        self._clock = clock

    def active_call(self, key: str) -> ActiveCall | None:
        with _store_errors():
            # Consistent: a call registered a moment ago must be seen by the next event.
            item = self._client.get_item(
                TableName=self._table,
                Key={"recipient": {"S": key}},
                ConsistentRead=True,
                ProjectionExpression="call_sid, expires_at",
            ).get("Item")
        if not item:
            return None
        call = ActiveCall(key=key, call_sid=item["call_sid"]["S"], expires_at=int(item["expires_at"]["N"]))
        # DynamoDB deletes expired items lazily (up to days later); an expired call is gone.
        return call if call.expires_at > self._clock() else None

    def register(self, key: str, call_sid: str, ttl_seconds: int) -> ActiveCall:
        now = int(self._clock())
        call = ActiveCall(key=key, call_sid=call_sid, expires_at=now + ttl_seconds)
        with _store_errors():
            self._client.put_item(
                TableName=self._table,
                Item={
                    "recipient": {"S": key},
                    "call_sid": {"S": call_sid},
                    "expires_at": {"N": str(call.expires_at)},
                    "registered_at": {"N": str(now)},
                },
            )
        return call

    def remove(self, key: str, call_sid: str | None = None) -> None:
        request: dict[str, Any] = {
            "TableName": self._table,
            "Key": {"recipient": {"S": key}},
            "ConditionExpression": "attribute_exists(recipient)",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if call_sid is not None:
            request["ConditionExpression"] += " AND call_sid = :sid"
            request["ExpressionAttributeValues"] = {":sid": {"S": call_sid}}
        try:
            with _store_errors(passthrough="ConditionalCheckFailedException"):
                self._client.delete_item(**request)
        except ClientError as error:
            if not error.response.get("Item"):
                raise CallNotFound(f"No call is registered for {key}.") from None
            raise CallMismatch(f"{key} is registered to a different call; the mapping was left in place.") from None

    def forget_stale(self, key: str, call_sid: str) -> bool:
        """Removes the mapping only while it still names the dead call: a newer call is never removed."""
        try:
            self.remove(key, call_sid)
        except (CallNotFound, CallMismatch):
            return False
        return True


class _store_errors:  # noqa: N801 - used as a lowercase context manager, like contextlib's
    """Turns SDK failures into domain errors; `passthrough` codes are re-raised for the caller."""

    def __init__(self, passthrough: str | None = None) -> None:
        self._passthrough = passthrough

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: Any) -> None:
        if error is None:
            return
        if isinstance(error, ClientError):
            code = error.response.get("Error", {}).get("Code", "")
            if code == self._passthrough:
                return
            if code in _TRANSIENT_CODES:
                raise StoreUnavailable("DynamoDB is unavailable.", retry_after=1) from error
            if code in _PERMANENT_CODES:
                raise ConfigurationError(f"DynamoDB refused the request ({code})") from error
            raise BridgeError(f"DynamoDB failed ({code})") from error
        if isinstance(error, BotoCoreError):
            raise StoreUnavailable("DynamoDB is unreachable.", retry_after=1) from error
