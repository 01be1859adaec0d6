"""What the Lambda runtime gives a handler, in-process: the module named by the template's Handler,
a context with a real deadline, its own service name in its logs and metrics, and API Gateway
HTTP API 2.0 events."""

from __future__ import annotations

import base64
import importlib.util
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl

from local.template import Function

# Media types API Gateway HTTP APIs pass to Lambda as text; everything else arrives base64-encoded.
_TEXT_TYPES = ("text/", "application/json", "application/javascript", "application/xml")


@dataclass
class LocalContext:
    """A LambdaContext with the attributes Powertools reads and a deadline that really runs out."""

    function_name: str
    memory_limit_in_mb: int = 512
    timeout_seconds: float = 10
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    _deadline: float = 0.0

    def __post_init__(self) -> None:
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


_modules: dict[str, ModuleType] = {}
# One handler import at a time: two threads importing the same circular packages at once (the
# front's request and a stream poller's first flush both reach Powertools' data classes) can see
# a partially initialized module and fail with ImportError.
_loading = threading.Lock()


def load_handler(function: Function) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """Imports CodeUri/<module>.py under a unique name (every function's module is called app)."""
    module_name, _, attribute = function.handler.rpartition(".")
    key = f"lambda_functions.{function.logical_id}.{module_name}"
    if key not in _modules:
        with _loading:
            if key not in _modules:
                path = function.code_uri / (module_name.replace(".", "/") + ".py")
                spec = importlib.util.spec_from_file_location(key, path)
                if spec is None or spec.loader is None:
                    raise ImportError(f"cannot load {path}")
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                _modules[key] = module
    handler: Callable[[dict[str, Any], Any], dict[str, Any]] = getattr(_modules[key], attribute)
    return handler


def invoke(function: Function, event: dict[str, Any]) -> dict[str, Any]:
    context = LocalContext(function.logical_id, function.memory, function.timeout)
    handler = load_handler(function)
    _install_service_names()
    token = _service.set(service_name(function))
    try:
        return handler(event, context)
    finally:
        _service.reset(token)


# -- one service name per function ---------------------------------------------------------------
# In Lambda each function is its own process, and bridge.observability's Logger and Metrics take
# POWERTOOLS_SERVICE_NAME from its environment. Here every function shares one process, one Logger
# and one Metrics, named after whichever environment came first. So each invocation carries its
# function's name in a context variable (per thread: the front and the stream pollers invoke
# concurrently), and the log records and the metrics' service dimension take it from there.
# Powertools' thread-safe keys can't carry it: inject_lambda_context(clear_state=True) clears them
# at the start of every invocation.

_service: ContextVar[str | None] = ContextVar("local_lambda_service", default=None)
_installed = threading.Lock()
_installed_on: list[object] = []


def service_name(function: Function) -> str | None:
    """The function's POWERTOOLS_SERVICE_NAME from the template (its own, else the Globals')."""
    value = function.environment.get("POWERTOOLS_SERVICE_NAME")
    return value if isinstance(value, str) else None


class _InvokedService(logging.Filter):
    """Gives every record logged during an invocation its function's `service`."""

    def filter(self, record: logging.LogRecord) -> bool:
        service = _service.get()
        if service is not None and "service" not in record.__dict__:
            record.service = service  # an extra key: Powertools' formatter lets it win over its own
        return True


class _InvokedServiceDimension:
    """Stands in for Metrics.service, which Powertools turns into the `service` dimension with
    str() when it flushes, at the end of the invocation on the invoking thread."""

    def __init__(self, default: object) -> None:
        self._default = default

    def __str__(self) -> str:
        return _service.get() or str(self._default)

    def __bool__(self) -> bool:
        return bool(_service.get() or self._default)


def _install_service_names() -> None:
    """Once, after the first handler import, so the bridge's Logger and Metrics exist."""
    if _installed_on:
        return
    from bridge.observability import logger, metrics

    with _installed:
        if not _installed_on:
            logger.addFilter(_InvokedService())
            metrics.service = _InvokedServiceDimension(metrics.service)
            _installed_on.append(logger)


def http_event(
    method: str,
    path: str,
    *,
    route_key: str,
    path_parameters: Mapping[str, str] | None = None,
    query: str = "",
    headers: Mapping[str, str] | None = None,
    body: bytes | str | None = None,
    host: str = "127.0.0.1:3000",
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """An API Gateway HTTP API payload 2.0 event, shaped as AWS sends it."""
    lowered: dict[str, str] = {}
    for name, value in (headers or {}).items():
        name = name.lower()
        # HTTP APIs join repeated headers with commas.
        lowered[name] = f"{lowered[name]},{value}" if name in lowered else value
    lowered.setdefault("host", host)
    raw = body.encode("utf-8") if isinstance(body, str) else body
    is_text = any(lowered.get("content-type", "").lower().startswith(kind) for kind in _TEXT_TYPES)
    now = datetime.now(UTC)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": lowered,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": host.split(":")[0],
            "domainPrefix": "local",
            "http": {
                "method": method.upper(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex[:16],
            "routeKey": route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": False,
    }
    if "cookie" in lowered:
        event["cookies"] = [part.strip() for part in lowered["cookie"].split(";")]
    if query:
        params: dict[str, str] = {}
        for name, value in parse_qsl(query, keep_blank_values=True):
            params[name] = f"{params[name]},{value}" if name in params else value
        event["queryStringParameters"] = params
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if raw:
        text = _utf8(raw) if is_text else None
        if text is not None:
            event["body"] = text
        else:
            # Binary types, and text that is not UTF-8: a JSON string can't carry those bytes as they are.
            event["body"] = base64.b64encode(raw).decode("ascii")
            event["isBase64Encoded"] = True
    return event


def _utf8(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def response_body(response: Mapping[str, Any]) -> bytes:
    body = response.get("body") or ""
    return base64.b64decode(body) if response.get("isBase64Encoded") else str(body).encode("utf-8")
