"""The one Logger and Metrics of the process, and the one place an outcome is logged and counted."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "udm-bridge")
logger = Logger(service=SERVICE)
metrics = Metrics(service=SERVICE, namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "UdmBridge"))

# Fields an invocation's outcome is broken down by: "rejected by reason", "twilio_error by code".
_DIMENSIONS = ("reason", "twilio_code")


def record_outcome(outcome: str, message: str, *, level: str = "info", **fields: Any) -> None:
    """An invocation's one outcome: one log line and one metric under the same name.

    `reason` and `twilio_code` become metric dimensions; an invocation has exactly one outcome,
    so they never mix with another's.
    """
    for dimension in _DIMENSIONS:
        if fields.get(dimension) is not None:
            metrics.add_dimension(name=dimension, value=str(fields[dimension]))
    record(outcome, message, level=level, **fields)


def record(name: str, message: str, *, level: str = "info", **fields: Any) -> None:
    """One thing that happened inside an invocation (a parked event flushed or expired, a stale
    mapping removed): one log line and one metric under the same name, no dimensions."""
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
    getattr(logger, level)(message, outcome=name, **{k: v for k, v in fields.items() if v is not None})


def record_latency(name: str, milliseconds: float) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Milliseconds, value=round(milliseconds, 3))


def record_retry() -> None:
    metrics.add_metric(name="retries", unit=MetricUnit.Count, value=1)
