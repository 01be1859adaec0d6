"""CallsTable stream: subscribe each registered SDK leg to its messages; wiring only.

A failed record is reported back so Lambda retries from it (ReportBatchItemFailures).
"""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from bridge.observability import logger, metrics
from bridge.runtime import subscribe_router

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    router = subscribe_router()

    def handle(record: DynamoDBRecord) -> None:
        router.handle(record, context)

    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
