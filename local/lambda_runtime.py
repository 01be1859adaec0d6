"""What the Lambda runtime gives a handler, in-process: the module named by the template's Handler,
loaded once per container, each container running one invocation at a time and a function at most
its concurrency limit at once; a context with a real deadline, its own service name in its logs and
metrics, and API Gateway HTTP API 2.0 events."""

from __future__ import annotations

import base64
import importlib.util
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
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


# Lambda's default concurrency quota per account and Region: what a function without reserved
# concurrency may scale to. https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
ACCOUNT_CONCURRENCY = 1000

# One handler import at a time: two threads importing the same circular packages at once (the
# front's request and a stream poller's first flush both reach Powertools' data classes) can see
# a partially initialized module and fail with ImportError.
_loading = threading.Lock()

type Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


class Throttled(Exception):
    """Lambda refused the invocation: the function already runs as many as its concurrency allows
    (TooManyRequestsException, ReservedFunctionConcurrentInvocationLimitExceeded)."""


def load_handler(function: Function) -> Handler:
    """Imports CodeUri/<module>.py afresh, under a name of the function's own (every function's module
    is called app) and outside sys.modules: each call is a new container's copy of the module."""
    module_name, _, attribute = function.handler.rpartition(".")
    path = function.code_uri / (module_name.replace(".", "/") + ".py")
    with _loading:
        spec = importlib.util.spec_from_file_location(f"lambda_functions.{function.logical_id}.{module_name}", path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    handler: Handler = getattr(module, attribute)
    return handler


@dataclass
class Concurrency:
    """What one function's containers did: the most invocations at once, and how many were refused."""

    limit: int
    peak: int = 0
    invocations: int = 0
    throttled: int = 0
    containers: int = 0  # each one a cold start
    busy_seconds: float = 0.0  # invocations' durations added up: what Lambda bills, before rounding

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


class Containers:
    """One function's execution environments, as Lambda keeps them. Each loads the handler module once
    (its own module state: a Powertools resolver whose current event is its invocation's alone), runs
    one invocation at a time and stays warm for the next. At most `limit` invocations run at once;
    beyond it an invocation is refused (`Throttled`) or, for an event source mapping, waits.

    The bridge's package is imported once per process, so what it builds once per container
    (bootstrap's clients and use cases) is shared by the containers here: it must be thread-safe."""

    def __init__(self, function: Function, limit: int, loader: Callable[[Function], Handler] = load_handler) -> None:
        self.function = function
        self._load = loader
        self._free = threading.Condition()
        self._idle: list[Handler] = []
        self._busy = 0
        self.stats = Concurrency(limit)

    @property
    def limit(self) -> int:
        return self.stats.limit

    @limit.setter
    def limit(self, value: int) -> None:
        with self._free:
            self.stats.limit = value
            self._free.notify_all()

    def invoke(self, event: dict[str, Any], context: Any, *, wait: bool = False) -> dict[str, Any]:
        handler = self._acquire(wait)
        started = time.perf_counter()
        try:
            return handler(event, context)
        finally:
            self._release(handler, time.perf_counter() - started)

    def reset_counters(self) -> None:
        """Counts afresh from now: the peak restarts from the invocations running."""
        with self._free:
            self.stats = Concurrency(self.stats.limit, peak=self._busy)

    def _acquire(self, wait: bool) -> Handler:
        with self._free:
            while self._busy >= self.stats.limit:
                if not wait:
                    self.stats.throttled += 1
                    raise Throttled(f"{self.function.logical_id} has {self._busy} invocations running, its limit")
                self._free.wait()
            self._busy += 1
            self.stats.invocations += 1
            self.stats.peak = max(self.stats.peak, self._busy)
            if self._idle:
                return self._idle.pop()  # the most recently used: the warmest
            self.stats.containers += 1
        try:
            return self._load(self.function)
        except BaseException:
            with self._free:
                self._busy -= 1
                self._free.notify()
            raise

    def _release(self, handler: Handler, seconds: float) -> None:
        with self._free:
            self._busy -= 1
            self.stats.busy_seconds += seconds
            self._idle.append(handler)
            self._free.notify()


class Runtime:
    """Every function's containers, with each function's concurrency limit: the template's
    ReservedConcurrentExecutions where it sets one, else `default_limit` (an override wins)."""

    def __init__(self, default_limit: int = ACCOUNT_CONCURRENCY) -> None:
        self.default_limit = default_limit
        self._overrides: dict[str, int] = {}
        self._pools: dict[str, Containers] = {}
        self._lock = threading.Lock()

    def configure(self, default_limit: int | None = None, limits: Mapping[str, int] | None = None) -> None:
        """New limits, for containers to come and those running: `limits` by logical ID."""
        for value in [default_limit, *(limits or {}).values()]:
            if value is not None and value < 1:
                raise ValueError("a concurrency limit is at least 1")
        with self._lock:
            self.default_limit = default_limit or ACCOUNT_CONCURRENCY
            self._overrides = dict(limits or {})
            for pool in self._pools.values():
                pool.limit = self._limit(pool.function)

    def containers(self, function: Function) -> Containers:
        with self._lock:
            pool = self._pools.get(function.logical_id)
            if pool is None or pool.function != function:
                pool = self._pools[function.logical_id] = Containers(function, self._limit(function))
            return pool

    def invoke(self, function: Function, event: dict[str, Any], *, wait: bool = False) -> dict[str, Any]:
        context = LocalContext(function.logical_id, function.memory, function.timeout)
        pool = self.containers(function)
        _install_service_names()
        _isolate_routers()
        token, routed = _service.set(service_name(function)), _router_state.set({})
        try:
            return pool.invoke(event, context, wait=wait)
        finally:
            _router_state.reset(routed)
            _service.reset(token)

    def concurrency(self) -> dict[str, Concurrency]:
        """Each invoked function's counters, by logical ID."""
        with self._lock:
            pools = dict(self._pools)
        return {name: replace(pool.stats) for name, pool in sorted(pools.items())}

    def reset_counters(self) -> None:
        with self._lock:
            pools = list(self._pools.values())
        for pool in pools:
            pool.reset_counters()

    def _limit(self, function: Function) -> int:
        override = self._overrides.get(function.logical_id)
        return override or function.reserved_concurrency or self.default_limit


RUNTIME = Runtime()


def invoke(function: Function, event: dict[str, Any], *, wait: bool = False) -> dict[str, Any]:
    """One invocation in one of the function's containers. Past its concurrency limit it raises
    Throttled, as Lambda refuses a synchronous invocation; `wait=True` waits for a container instead,
    as an event source mapping retries a throttled batch."""
    return RUNTIME.invoke(function, event, wait=wait)


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
    """Once, before the first invocation: the bridge's Logger and Metrics exist once imported."""
    if _installed_on:
        return
    from bridge.observability import logger, metrics

    with _installed:
        if not _installed_on:
            logger.addFilter(_InvokedService())
            metrics.service = _InvokedServiceDimension(metrics.service)
            _one_metrics_change_at_a_time(metrics.provider)
            _installed_on.append(logger)


# The metrics being gathered are one set per process too: concurrent invocations add to it while one
# of them serialises and clears it, which can fail mid-way ("dictionary changed size", or "Must contain
# at least one metric" once another cleared it) and turn an answered event into a 502. Their metrics
# still mix in the local stack's logs; each change to the set, and each flush, is made whole.
_METRICS_CHANGES = (
    "add_metric",
    "add_dimension",
    "add_dimensions",
    "add_metadata",
    "serialize_metric_set",
    "flush_metrics",
    "clear_metrics",
    "set_default_dimensions",
)


def _one_metrics_change_at_a_time(provider: Any) -> None:
    lock = threading.RLock()

    def locked(method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return method(*args, **kwargs)

        return call

    for name in _METRICS_CHANGES:
        setattr(provider, name, locked(getattr(provider, name)))


# -- one resolver state per invocation -------------------------------------------------------------
# Powertools keeps the event being resolved, and its Lambda context, on the BaseRouter class
# (`BaseRouter.current_event = ...` in every resolve): one per process, which in Lambda is one per
# container. Here a function's containers share the process, so a concurrent invocation would replace
# the event another is still reading (its body from one request, its headers from the next). Both
# attributes become the invocation's own: a ContextVar each invocation sets afresh, read and written
# through a property for instances and one on BaseRouter's metaclass for the class itself.

_router_state: ContextVar[dict[str, Any] | None] = ContextVar("local_router_state", default=None)
_outside_invocations: dict[str, Any] = {}  # code that resolves without the runtime (a unit test)
_ROUTER_ATTRIBUTES = ("current_event", "lambda_context")


def _router_values() -> dict[str, Any]:
    state = _router_state.get()
    return _outside_invocations if state is None else state


def _router_attribute(name: str) -> property:
    def get(_: object) -> Any:
        try:
            return _router_values()[name]
        except KeyError:
            raise AttributeError(name) from None

    def set_(_: object, value: Any) -> None:
        _router_values()[name] = value

    return property(get, set_)


def _isolate_routers() -> None:
    """Once: BaseRouter's current event and context become per invocation."""
    if _routers_isolated:
        return
    from aws_lambda_powertools.event_handler.api_gateway import BaseRouter

    with _installed:
        if _routers_isolated:
            return
        for name in _ROUTER_ATTRIBUTES:
            if name in BaseRouter.__dict__:
                _outside_invocations[name] = BaseRouter.__dict__[name]
            type.__setattr__(BaseRouter, name, _router_attribute(name))  # what instances read and write
        metaclass = type(BaseRouter)
        per_invocation = type(
            f"PerInvocation{metaclass.__name__}",
            (metaclass,),
            {name: _router_attribute(name) for name in _ROUTER_ATTRIBUTES},  # `BaseRouter.x = ...` itself
        )
        setattr(BaseRouter, "__class__", per_invocation)  # noqa: B010 - mypy forbids the plain assignment
        _routers_isolated.append(BaseRouter)


_routers_isolated: list[type] = []


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
