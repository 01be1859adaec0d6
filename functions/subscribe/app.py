"""CallsTable stream: subscribe each registered SDK leg to its messages; wiring only.

A failed record is reported back so Lambda retries from it (ReportBatchItemFailures).
"""

from typing import Any

from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext

from bridge.entrypoints.streams import subscribe_records
from bridge.observability import logger, metrics


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return subscribe_records(event, context)
