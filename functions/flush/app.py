"""DynamoDB streams of CallsTable and ParkedTable: wiring only; the use case lives in the bridge layer.

Records are handled one by one, in order; a failed record is reported back so Lambda retries
from it (ReportBatchItemFailures), and the records behind it keep their order.
"""

from typing import Any

from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext

from bridge.entrypoints.streams import flush_records
from bridge.observability import logger, metrics


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return flush_records(event, context)
