"""A fault-injecting proxy in front of moto's DynamoDB: throttling, server errors and latency on demand.

Point a client at it with AWS_ENDPOINT_URL_DYNAMODB (or AWS_ENDPOINT_URL: it forwards any AWS JSON
request, so Secrets Manager, which shares moto's endpoint, goes through it too). Each request whose
operation matches a rule fails with that rule's probability, answered the way DynamoDB answers
(botocore retries these, then raises), otherwise it is forwarded to moto unchanged. With
``latency_ms`` every request first waits that long, as a round trip to a real endpoint would.

The proxy serialises nothing: each client connection has its own thread (ThreadingHTTPServer) and
its own connection to moto, so two calls a client overlaps stay overlapped, and each waits its
latency at the same time as the other. Clients' connections are kept alive, as AWS keeps them; the
connection to moto is kept too when moto allows it (werkzeug 3 answers every request with
`Connection: close`, so there it is a fresh loopback connection per request, on the proxy's side).
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

# DynamoDB's own answers: status and error type.
ERRORS = {
    "ThrottlingException": (400, "Rate of requests exceeds the allowed throughput."),
    "ProvisionedThroughputExceededException": (400, "The level of configured provisioned throughput was exceeded."),
    "InternalServerError": (500, "Internal server error"),
}
# Hop-by-hop headers: about one connection, never forwarded.
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "upgrade"})


@dataclass(frozen=True)
class Rule:
    operation: str = "*"  # e.g. "GetItem", or "*" for every operation
    rate: float = 1.0
    error: str = "ThrottlingException"


class DynamoFaultProxy:
    def __init__(
        self, upstream: str, host: str = "127.0.0.1", port: int = 0, seed: int = 7, latency_ms: float = 0.0
    ) -> None:
        target = urlsplit(upstream)
        self._upstream = (target.hostname or "127.0.0.1", target.port or 80)
        self._rules: list[Rule] = []
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._latency_s = 0.0
        self._in_flight = 0
        # requests: answered or forwarded; faults: answered with an error; delayed: waited latency_ms;
        # peak_in_flight: most requests inside the proxy at one time (2 when a client overlaps two calls);
        # client_connections: connections clients opened to the proxy (kept alive: fewer than requests);
        # upstream_connections: connections the proxy opened to moto.
        self.stats = {
            "requests": 0,
            "faults": 0,
            "delayed": 0,
            "peak_in_flight": 0,
            "client_connections": 0,
            "upstream_connections": 0,
        }
        self.set_latency(latency_ms)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True
            upstream: http.client.HTTPConnection | None = None

            def setup(self) -> None:
                super().setup()
                with proxy._lock:
                    proxy.stats["client_connections"] += 1

            def do_POST(self) -> None:
                proxy._serve(self, "POST")

            def do_GET(self) -> None:
                proxy._serve(self, "GET")

            def finish(self) -> None:
                try:
                    super().finish()
                finally:
                    if self.upstream is not None:
                        self.upstream.close()

            def log_message(self, format: str, *args: object) -> None:
                return None

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="dynamo-faults", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def latency_ms(self) -> float:
        with self._lock:
            return self._latency_s * 1000

    def start(self) -> DynamoFaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():  # shutdown() waits for serve_forever, which never ran otherwise
            self._server.shutdown()
        self._server.server_close()

    def set_rules(self, *rules: Rule) -> None:
        with self._lock:
            self._rules = list(rules)

    def set_latency(self, latency_ms: float) -> None:
        """Every request from now on waits `latency_ms` before it is answered or forwarded."""
        if isinstance(latency_ms, bool) or not isinstance(latency_ms, int | float) or not latency_ms >= 0:
            raise ValueError("latency_ms must be a number >= 0")
        with self._lock:
            self._latency_s = latency_ms / 1000

    def _begin(self, operation: str) -> tuple[str | None, float]:
        """Counts a request in; its fault (if a rule picks one) and the latency to wait."""
        with self._lock:
            self.stats["requests"] += 1
            self._in_flight += 1
            self.stats["peak_in_flight"] = max(self.stats["peak_in_flight"], self._in_flight)
            if self._latency_s > 0:
                self.stats["delayed"] += 1
            for rule in self._rules:
                if rule.operation in ("*", operation) and self._random.random() < rule.rate:
                    self.stats["faults"] += 1
                    return rule.error, self._latency_s
            return None, self._latency_s

    def _end(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _serve(self, request: Any, method: str) -> None:
        body = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        operation = (request.headers.get("X-Amz-Target") or "").rpartition(".")[2]
        error, latency_s = self._begin(operation)
        try:
            if latency_s > 0:
                time.sleep(latency_s)  # in this connection's own thread: other requests wait theirs alongside
            if error is not None:
                status, message = ERRORS[error]
                payload = json.dumps(
                    {"__type": f"com.amazonaws.dynamodb.v20120810#{error}", "message": message}
                ).encode()
                self._reply(request, status, {"Content-Type": "application/x-amz-json-1.0"}, payload)
                return
            headers = {name: value for name, value in request.headers.items() if name.lower() not in _HOP_BY_HOP}
            status, reply_headers, payload = self._forward(request, method, headers, body)
            self._reply(request, status, reply_headers, payload)
        finally:
            self._end()

    def _forward(
        self, request: Any, method: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """Sends the request on this client connection's kept-alive connection to moto (a kept-alive
        connection moto had closed is replaced by a fresh one, once)."""
        while True:
            reused = request.upstream is not None
            if request.upstream is None:
                request.upstream = http.client.HTTPConnection(*self._upstream, timeout=30)
                with self._lock:
                    self.stats["upstream_connections"] += 1
            connection: http.client.HTTPConnection = request.upstream
            try:
                connection.request(method, request.path, body=body, headers=headers)
                answer = connection.getresponse()
                payload = answer.read()
            except (http.client.RemoteDisconnected, ConnectionError, http.client.CannotSendRequest):
                connection.close()
                request.upstream = None
                if not reused:  # only a kept-alive connection moto had closed is worth one more try
                    raise
                continue
            if answer.will_close:
                connection.close()
                request.upstream = None
            reply_headers = {k: v for k, v in answer.getheaders() if k.lower() not in _HOP_BY_HOP}
            return answer.status, reply_headers, payload

    @staticmethod
    def _reply(request: BaseHTTPRequestHandler, status: int, headers: dict[str, Any], payload: bytes) -> None:
        request.send_response(status)
        for name, value in headers.items():
            if name.lower() != "content-length":
                request.send_header(name, str(value))
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)
