"""The messages queue: forward each call message as a Standard Webhooks request; wiring only.

A message whose ledger write fails is reported back, so SQS redelivers it and, past
maxReceiveCount, moves it to the dead-letter queue.
"""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from bridge.observability import logger, metrics
from bridge.retry import Deadline
from bridge.runtime import forward_service

processor = BatchProcessor(event_type=EventType.SQS)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    service = forward_service()

    def handle(record: SQSRecord) -> None:
        service.forward(record.body, Deadline(context.get_remaining_time_in_millis))

    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
