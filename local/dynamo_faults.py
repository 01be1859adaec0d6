"""A fault-injecting proxy in front of moto's DynamoDB: throttling and server errors on demand.

Point a client at it with AWS_ENDPOINT_URL_DYNAMODB. Each request whose operation matches a rule
fails with that rule's probability, answered the way DynamoDB answers (botocore retries these,
then raises), otherwise it is forwarded to moto unchanged.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
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


@dataclass(frozen=True)
class Rule:
    operation: str = "*"  # e.g. "GetItem", or "*" for every operation
    rate: float = 1.0
    error: str = "ThrottlingException"


class DynamoFaultProxy:
    def __init__(self, upstream: str, host: str = "127.0.0.1", port: int = 0, seed: int = 7) -> None:
        target = urlsplit(upstream)
        self._upstream = (target.hostname or "127.0.0.1", target.port or 80)
        self._rules: list[Rule] = []
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.stats = {"requests": 0, "faults": 0}
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                proxy._serve(self)

            def log_message(self, format: str, *args: object) -> None:
                return None

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="dynamo-faults", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> DynamoFaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def set_rules(self, *rules: Rule) -> None:
        with self._lock:
            self._rules = list(rules)

    def _fault_for(self, operation: str) -> str | None:
        with self._lock:
            self.stats["requests"] += 1
            for rule in self._rules:
                if rule.operation in ("*", operation) and self._random.random() < rule.rate:
                    self.stats["faults"] += 1
                    return rule.error
        return None

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        body = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        operation = (request.headers.get("X-Amz-Target") or "").rpartition(".")[2]
        error = self._fault_for(operation)
        if error is not None:
            status, message = ERRORS[error]
            payload = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{error}", "message": message}).encode()
            self._reply(request, status, {"Content-Type": "application/x-amz-json-1.0"}, payload)
            return
        connection = http.client.HTTPConnection(*self._upstream, timeout=30)
        try:
            headers = {name: value for name, value in request.headers.items() if name.lower() != "connection"}
            connection.request("POST", request.path, body=body, headers=headers)
            answer = connection.getresponse()
            payload = answer.read()
            reply_headers = {
                k: v for k, v in answer.getheaders() if k.lower() not in ("transfer-encoding", "connection")
            }
            self._reply(request, answer.status, reply_headers, payload)
        finally:
            connection.close()

    @staticmethod
    def _reply(request: BaseHTTPRequestHandler, status: int, headers: dict[str, Any], payload: bytes) -> None:
        request.send_response(status)
        for name, value in headers.items():
            if name.lower() != "content-length":
                request.send_header(name, str(value))
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)
