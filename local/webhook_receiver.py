"""The systems that sent the events, locally: a webhook receiver that verifies forwarded call messages
with the `standardwebhooks` package, records and prints them, and can be told to fail.

`answers` is a queue of statuses to give next (503, 429, ...); `down()` closes the port so attempts
meet a refused connection, as with a receiver that is not running.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

log = logging.getLogger("local.webhook_receiver")


@dataclass(frozen=True)
class Delivery:
    headers: dict[str, str]
    body: bytes
    status: int
    verified: Any  # the payload standardwebhooks verified, or None when it did not verify


class WebhookReceiver:
    def __init__(
        self,
        secret: str,
        host: str = "127.0.0.1",
        port: int = 0,
        path: str = "/webhooks/udm-bridge",
        printer: Callable[[str], None] | None = None,
    ) -> None:
        self._webhook = Webhook(secret)
        self._host = host
        self._port = port
        self.path = path
        self.printer = printer
        self._lock = threading.Lock()
        self._answers: deque[tuple[int, dict[str, str], float]] = deque()
        self.deliveries: list[Delivery] = []
        # Told of each delivery once it is recorded (the console): they see, and change nothing.
        self.observers: list[Callable[[Delivery], None]] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._port}{self.path}"

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status, extra = receiver._receive(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return None

        self._server = ThreadingHTTPServer((self._host, self._port), Handler)
        self._server.daemon_threads = True
        self._port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, name="webhook-receiver", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def down(self) -> None:
        """Stops listening, keeping the port for `start()` to take again."""
        self.stop()

    def answer(self, statuses: Iterable[int], retry_after: int | None = None, delay: float = 0.0) -> None:
        """The next answers, in order; `delay` holds each one back (past the sender's timeout, say)."""
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        with self._lock:
            self._answers.extend((status, headers, delay) for status in statuses)

    def reset(self) -> None:
        with self._lock:
            self._answers.clear()
            self.deliveries.clear()

    def received(self) -> list[Delivery]:
        """Every delivery so far, oldest first."""
        with self._lock:
            return list(self.deliveries)

    def for_message(self, message_sid: str) -> list[Delivery]:
        with self._lock:
            return [d for d in self.deliveries if d.headers.get("webhook-id") == message_sid]

    def _receive(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str]]:
        try:
            verified = self._webhook.verify(body, headers)
        except WebhookVerificationError:
            verified = None
        with self._lock:
            status, extra, delay = self._answers.popleft() if self._answers else (204 if verified else 401, {}, 0.0)
        if delay:
            time.sleep(delay)
        delivery = Delivery(headers, body, status, verified)
        with self._lock:
            self.deliveries.append(delivery)
        for observer in self.observers:
            observer(delivery)
        if self.printer is not None and verified is not None and status < 300:
            self.printer(f"verified webhook {headers.get('webhook-id')}: {json.dumps(verified)}")
        log.info("webhook %s -> %s (verified=%s)", headers.get("webhook-id"), status, verified is not None)
        return status, extra
