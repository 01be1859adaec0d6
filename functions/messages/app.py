"""POST /twilio/messages: wiring only; the use case lives in the bridge layer."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from bridge.entrypoints.http import messages_app
from bridge.observability import logger, metrics

app = messages_app()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
