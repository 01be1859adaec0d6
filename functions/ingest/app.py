"""POST /events: wiring only; the use case lives in the bridge layer."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from bridge.entrypoints import snapstart
from bridge.entrypoints.http import ingest_app
from bridge.observability import logger, metrics

app = ingest_app()
snapstart.register(before_snapshot=snapstart.prime_ingest)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
