"""The one Logger and Metrics of the process, and the one place an outcome is logged and counted."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "udm-bridge")
logger = Logger(service=SERVICE)
metrics = Metrics(service=SERVICE, namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "UdmBridge"))


def record_outcome(outcome: str, message: str, *, level: str = "info", **fields: Any) -> None:
    """One log line and one metric per outcome, under the same name.

    `reason` and `twilio_code` become metric dimensions, so "rejected by reason" and
    "twilio_error by code" can be graphed; an invocation has exactly one outcome.
    """
    for dimension in ("reason", "twilio_code"):
        if fields.get(dimension) is not None:
            metrics.add_dimension(name=dimension, value=str(fields[dimension]))
    metrics.add_metric(name=outcome, unit=MetricUnit.Count, value=1)
    getattr(logger, level)(message, outcome=outcome, **{k: v for k, v in fields.items() if v is not None})


def record_latency(name: str, milliseconds: float) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Milliseconds, value=round(milliseconds, 3))


def record_retry() -> None:
    metrics.add_metric(name="retries", unit=MetricUnit.Count, value=1)


def count(name: str, value: int = 1) -> None:
    """A counter that is not an invocation's outcome (parked events flushed, stale mappings removed)."""
    if value:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
