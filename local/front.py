"""The HTTP front on 127.0.0.1:3000: what `sam local start-api` does where Docker exists.

It routes with template.yaml's HttpApi events and invokes the real handlers in-process with
API Gateway HTTP API 2.0 events. IAM authorization is not enforced locally (nor by SAM's).
"""

from __future__ import annotations

import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from local.lambda_runtime import http_event, invoke, response_body
from local.template import Function

log = logging.getLogger("local.front")


class HttpFront:
    def __init__(self, functions: dict[str, Function], host: str = "127.0.0.1", port: int = 3000) -> None:
        self._routes = [(route, function) for function in functions.values() for route in function.routes]
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # answers go out in two writes: no delayed-ACK stall

            def do_GET(self) -> None:
                front._serve(self)

            do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

            def log_message(self, format: str, *args: object) -> None:
                return None

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

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
        started = time.perf_counter()
        url = urlsplit(request.path)
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
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
                headers=dict(request.headers.items()),
                body=body,
                host=request.headers.get("Host", ""),
                source_ip=request.client_address[0],
            )
            response = invoke(function, event)
            status = int(response.get("statusCode", 200))
            headers = dict(response.get("headers") or {})
            payload = response_body(response)
            for cookie in response.get("cookies") or []:
                headers.setdefault("Set-Cookie", cookie)
            break
        else:
            # What an HTTP API answers for a route it doesn't have.
            status, headers, payload = 404, {"Content-Type": "application/json"}, b'{"message":"Not Found"}'
        request.send_response(status)
        for name, value in headers.items():
            request.send_header(name, str(value))
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(payload)
        log.info("%s %s -> %s (%.0f ms)", request.command, url.path, status, (time.perf_counter() - started) * 1000)
