"""POST /events: wiring only; the use case lives in the bridge layer."""

import gc
import os

# On Lambda a process is one container: what Init and the first event build (modules, clients, their
# service models) lives as long as it does, so the collector's passes over it find nothing to free
# (~25 ms of a cold start, make bench). It stays off until the first event is answered, then what
# exists is frozen, never scanned again. The local stack loads many containers into one process.
_ONE_CONTAINER = "LAMBDA_TASK_ROOT" in os.environ
if _ONE_CONTAINER:
    gc.disable()

from typing import Any  # noqa: E402

from aws_lambda_powertools.utilities.typing import LambdaContext  # noqa: E402

from bridge.entrypoints import snapstart  # noqa: E402
from bridge.entrypoints.http import ingest_app  # noqa: E402
from bridge.observability import logger, metrics  # noqa: E402

app = ingest_app()
snapstart.register(before_snapshot=snapstart.prime_ingest)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        return app.resolve(event, context)
    finally:
        if _ONE_CONTAINER and not gc.isenabled():
            gc.freeze()
            gc.enable()
