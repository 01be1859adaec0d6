"""The messages queue: each call message forwarded (or ledgered) by the call-message-out use case.

A message whose ledger write fails is reported back, so SQS redelivers it and, past
maxReceiveCount, moves it to the dead-letter queue.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from bridge import bootstrap
from bridge.domain.outcomes import Happening
from bridge.domain.retry import Deadline
from bridge.entrypoints.outcomes import record_happened

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext


def forward_records(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    """ForwardFunction's batch from the messages queue."""
    out = bootstrap.call_message_out()
    processor = BatchProcessor(event_type=EventType.SQS)

    def handle(record: SQSRecord) -> None:
        result = out.forward(record.body, Deadline(context.get_remaining_time_in_millis))
        record_happened([Happening(result.outcome, result.fields())])

    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
