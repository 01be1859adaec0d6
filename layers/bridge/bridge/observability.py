"""The one Logger and Metrics of the process. Outcomes are logged and counted through
bridge.entrypoints.outcomes; what is here is for measurements and diagnostics.

Every log line passes through one formatter, which masks phone numbers and keeps the line one line.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import MetricUnit

from bridge.domain.phones import masked

if TYPE_CHECKING:
    from bridge.domain.retry import Transient

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "udm-bridge")

# JSON leaves these raw, but line-splitting tools (and JavaScript) read each as a line break.
_LINE_BREAKS = str.maketrans({"\u2028": "\\u2028", "\u2029": "\\u2029", "\u0085": "\\u0085"})


class SafeFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON lines, with phone numbers masked and Unicode line breaks escaped."""

    def serialize(self, log: dict[str, Any]) -> str:  # type: ignore[override]
        return super().serialize(masked(log)).translate(_LINE_BREAKS)


logger = Logger(service=SERVICE, logger_formatter=SafeFormatter())
metrics = Metrics(service=SERVICE, namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "UdmBridge"))


def count(
    name: str, message: str, *, level: str = "info", dimensions: dict[str, str] | None = None, **fields: Any
) -> None:
    """One log line and one metric under the same name; `dimensions` break the metric down."""
    for dimension, value in (dimensions or {}).items():
        metrics.add_dimension(name=dimension, value=value)
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
    getattr(logger, level)(message, outcome=name, **{k: v for k, v in fields.items() if v is not None})


class Latency(StrEnum):
    """The latencies measured, each a metric in milliseconds."""

    DELIVERY = "delivery_latency"  # one UDM, every attempt included
    FORWARD = "forward_latency"  # one call message to FORWARD_URL, every attempt included


# One count per retry, of Twilio or of the forward receiver.
RETRIES = "retries"


def record_latency(name: Latency, milliseconds: float) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Milliseconds, value=round(milliseconds, 3))


def retry_logged(what: str) -> Callable[[int, Transient, float], None]:
    """The on_retry of run_with_retries: one `retries` metric and one warning per retry of `what`."""

    def log(attempt: int, failure: Transient, pause: float) -> None:
        metrics.add_metric(name=RETRIES, unit=MetricUnit.Count, value=1)
        logger.warning(
            "attempt failed; retrying", to=what, attempt=attempt, reason=failure.reason, pause_s=round(pause, 3)
        )

    return log
