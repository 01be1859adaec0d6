"""The HTTP front on 127.0.0.1:3000: what `sam local start-api` does where Docker exists.

It routes with template.yaml's HttpApi events and invokes the real handlers in-process with
API Gateway HTTP API 2.0 events, concurrently, each in one of its function's containers
(local/lambda_runtime.py). A request the function's concurrency limit refuses gets 500, one whose
handler raised 502, as API Gateway answers them. IAM authorization is not enforced locally (nor by
SAM's), nor is the stage's own throttling.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from local.lambda_runtime import Throttled, http_event, invoke, response_body
from local.template import Function

log = logging.getLogger("local.front")

# Headers whose values prove or grant something: an observer sees them elided, never their values.
_SECRET_HEADER = re.compile(r"signature|hmac|authorization|cookie|token|secret", re.IGNORECASE)
ELIDED = "(elided)"

# Methods answered like API Gateway: a route or a JSON 404 (any other method is too, by __getattr__).
_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "CONNECT")
_JSON = {"Content-Type": "application/json"}
# What API Gateway answers when it could not get a response from the function: "If the Lambda API
# rejects the invocation request [a throttle], API Gateway returns a 500 error code. If the function
# runs but returns an error ..., API Gateway returns a 502."
# https://docs.aws.amazon.com/lambda/latest/dg/services-apigateway-errors.html
_INTERNAL_ERROR = b'{"message":"Internal Server Error"}'


def request_headers(message: Message) -> dict[str, str]:
    """Header names and values as API Gateway hands them on: repeated headers joined with commas,
    values read as UTF-8 (http.server decodes them as latin-1; bytes that aren't UTF-8 become U+FFFD)."""
    joined: dict[str, str] = {}
    for name, value in message.items():
        text = value.encode("latin-1", errors="replace").decode("utf-8", errors="replace")
        key = name.lower()
        joined[key] = f"{joined[key]},{text}" if key in joined else text
    return joined


def elided(headers: dict[str, str]) -> dict[str, str]:
    """The headers with every signature, credential and cookie value replaced; timestamps stay."""
    return {
        name: ELIDED if _SECRET_HEADER.search(name) and not name.lower().endswith("-timestamp") else value
        for name, value in headers.items()
    }


@dataclass(frozen=True)
class Invocation:
    """One request the front answered, as an observer (the console) sees it: secret headers elided."""

    started: float  # epoch seconds
    method: str
    path: str  # with its query, as requested
    function: str | None  # the template's logical ID, or None for a route the API doesn't have
    headers: dict[str, str]
    body: bytes
    status: int
    response_headers: dict[str, str]
    response_body: bytes
    duration_ms: float


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 resets connections under a burst of concurrent requests.
    request_queue_size = 1024


class HttpFront:
    def __init__(self, functions: dict[str, Function], host: str = "127.0.0.1", port: int = 3000) -> None:
        self._routes = [(route, function) for function in functions.values() for route in function.routes]
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # answers go out in two writes: no delayed-ACK stall

            def serve(self) -> None:
                front._serve(self)

            def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
                # http.server's own errors (unknown method, bad request line) as JSON, not HTML.
                body = json.dumps({"message": message or HTTPStatus(code).phrase}).encode()
                self.send_response(code, message)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                if self.command != "HEAD" and code >= 200 and code not in (204, 304):
                    self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return None

            def __getattr__(self, name: str) -> Any:
                # Any other method (QUERY, FROB, ...) is routed too: no route, so a JSON 404.
                if name.startswith("do_"):
                    return self.serve
                raise AttributeError(name)

        for method in _METHODS:
            setattr(Handler, f"do_{method}", Handler.serve)

        self._server = _Server((host, port), Handler)
        self._thread: threading.Thread | None = None
        # Told of each invocation after its answer went out: they see, and change nothing.
        self.observers: list[Callable[[Invocation], None]] = []

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> HttpFront:
        self._thread = threading.Thread(target=self._server.serve_forever, name="http-front", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        started, at = time.perf_counter(), time.time()
        url = urlsplit(request.path)
        length_header = request.headers.get("Content-Length") or "0"
        if not (length_header.isascii() and length_header.isdigit() and len(length_header) <= 12):
            request.send_error(400, "Invalid Content-Length")
            return
        length = int(length_header)
        body = request.rfile.read(length) if length else b""
        headers = request_headers(request.headers)
        received, answered_by = headers, None
        for route, function in self._routes:
            parameters = route.match(request.command, url.path)
            if parameters is None:
                continue
            event = http_event(
                request.command,
                url.path,
                route_key=route.route_key,
                path_parameters=parameters,
                query=url.query,
                headers=headers,
                body=body,
                host=headers.get("host", ""),
                source_ip=request.client_address[0],
            )
            answered_by = function.logical_id
            try:
                response = invoke(function, event)
            except Throttled:
                # Lambda refused the invocation: API Gateway answers 500, not 429 (_INTERNAL_ERROR).
                log.warning("%s throttled: %s %s -> 500", function.logical_id, request.command, url.path)
                status, headers, payload = 500, dict(_JSON), _INTERNAL_ERROR
                break
            except Exception:
                # The function failed instead of answering: API Gateway's 502.
                log.exception("%s raised: %s %s -> 502", function.logical_id, request.command, url.path)
                status, headers, payload = 502, dict(_JSON), _INTERNAL_ERROR
                break
            status = int(response.get("statusCode", 200))
            headers = dict(response.get("headers") or {})
            payload = response_body(response)
            for cookie in response.get("cookies") or []:
                headers.setdefault("Set-Cookie", cookie)
            break
        else:
            # What an HTTP API answers for a route it doesn't have.
            status, headers, payload = 404, dict(_JSON), b'{"message":"Not Found"}'
        request.send_response(status)
        for name, value in headers.items():
            request.send_header(name, str(value))
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(payload)
        elapsed_ms = (time.perf_counter() - started) * 1000
        log.info("%s %s -> %s (%.0f ms)", request.command, url.path, status, elapsed_ms)
        if self.observers:
            seen = Invocation(
                at,
                request.command,
                request.path,
                answered_by,
                elided(received),
                body,
                status,
                elided({name: str(value) for name, value in headers.items()}),
                payload,
                elapsed_ms,
            )
            for observer in self.observers:
                observer(seen)
