"""The messages queue: forward each call message as a Standard Webhooks request; wiring only.

A message whose ledger write fails is reported back, so SQS redelivers it and, past
maxReceiveCount, moves it to the dead-letter queue.
"""

from typing import Any

from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext

from bridge.entrypoints.queues import forward_records
from bridge.observability import logger, metrics


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return forward_records(event, context)
