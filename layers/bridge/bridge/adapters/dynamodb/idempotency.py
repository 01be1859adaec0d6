"""The IdempotencyGate port: Powertools Idempotency on DynamoDB, keyed on the event key and checked
against the parsed body."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyInconsistentStateError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)

from bridge.domain.errors import EventIdReused, EventInProgress, StoreUnavailable

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_dynamodb.client import DynamoDBClient

    from bridge.domain.retry import Deadline

REPLAYED = "__replayed__"


class _Remaining:
    """The one thing Powertools asks of a Lambda context here: the time left."""

    def __init__(self, deadline: Deadline) -> None:
        self.get_remaining_time_in_millis = deadline.remaining_ms


def _mark_replayed(response: Any, _record: DataRecord) -> Any:
    return {**response, REPLAYED: True} if isinstance(response, dict) else response


class PowertoolsIdempotencyGate:
    """Runs a function once per event ID.

    A completed run is stored and replayed; a run that raises leaves no record behind (Powertools
    deletes it), so a sender's retry after a transient failure or a missing call is processed again.
    "Same payload" is judged on the parsed body (Powertools hashes its canonical JSON), not its bytes.
    """

    def __init__(self, table_name: str, client: DynamoDBClient, ttl_seconds: int) -> None:
        self._persistence = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=client)
        self._config = IdempotencyConfig(
            event_key_jmespath="id",
            payload_validation_jmespath="body",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=ttl_seconds,
            response_hook=_mark_replayed,  # type: ignore[arg-type]  # Powertools types it as a Protocol
        )

        # Decorated once per container; the work of each event comes in as an argument.
        @idempotent_function(
            data_keyword_argument="record",
            persistence_store=self._persistence,
            config=self._config,
            key_prefix="udm-bridge.events",
        )
        def once(record: dict[str, Any], work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
            return work()

        self._once = once

    def run(
        self, key: str, body: Any, function: Callable[[], dict[str, Any]], deadline: Deadline
    ) -> tuple[dict[str, Any], bool]:
        """Returns the function's result and whether it was replayed from an earlier run."""
        # Lets an in-progress claim expire with this invocation if it dies mid-way: Powertools reads
        # the remaining time as a Lambda context offers it.
        self._config.register_lambda_context(cast("LambdaContext", _Remaining(deadline)))

        try:
            result = self._once(record={"id": key, "body": body}, work=function)
        except IdempotencyAlreadyInProgressError:
            raise EventInProgress(
                "An identical event is being delivered right now; retry shortly.", retry_after=1
            ) from None
        except IdempotencyValidationError:
            raise EventIdReused("This event ID was already used with a different payload.") from None
        except (IdempotencyPersistenceLayerError, IdempotencyInconsistentStateError) as error:
            raise StoreUnavailable("The idempotency store is unavailable.", retry_after=1) from error
        replayed = bool(result.pop(REPLAYED, False))
        return result, replayed
