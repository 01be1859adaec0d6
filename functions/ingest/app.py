"""POST /events: wiring only; the use case lives in the bridge layer."""

import gc
import os

# On Lambda a process is one container: what Init and the first event build (modules, clients, use
# cases) lives as long as it does, so the collector's passes over it (~20 ms in Init and ~10 in the
# first event, make bench) find nothing to free, and frozen it is never scanned again. The local
# stack loads many containers into one process, and keeps its own collector running.
_ONE_CONTAINER = "LAMBDA_TASK_ROOT" in os.environ
_collector_off = _ONE_CONTAINER
if _ONE_CONTAINER:
    gc.disable()

from typing import Any  # noqa: E402

from aws_lambda_powertools.utilities.typing import LambdaContext  # noqa: E402

from bridge.entrypoints import snapstart  # noqa: E402
from bridge.entrypoints.http import ingest_app  # noqa: E402
from bridge.observability import logger, metrics  # noqa: E402

try:
    app = ingest_app()
    snapstart.register(before_snapshot=snapstart.prime_ingest)
finally:
    if _ONE_CONTAINER:
        gc.freeze()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    global _collector_off
    try:
        return app.resolve(event, context)
    finally:
        if _collector_off:
            _collector_off = False
            gc.freeze()
            gc.enable()
