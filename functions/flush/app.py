"""DynamoDB streams of CallsTable and ParkedTable: wiring only; the use case lives in the bridge layer.

Records are handled one by one, in order; a failed record is reported back so Lambda retries
from it (ReportBatchItemFailures), and the records behind it keep their order.
"""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from bridge.observability import logger, metrics
from bridge.runtime import flush_router

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    router = flush_router()

    def handle(record: DynamoDBRecord) -> None:
        router.handle(record, context)

    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
