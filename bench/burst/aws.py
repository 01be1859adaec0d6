"""moto's server in a process of its own, `python -m bench.burst.aws`: the burst's AWS side gets the
second core instead of sharing the handlers' interpreter lock. It counts the AWS operations the bridge
makes (each request's X-Amz-Target, the local stack's own clients left out by their User-Agent) and
serves the counts at GET /_bench/operations. It prints its URL on one line and serves until stdin
closes."""

from __future__ import annotations

import json
import logging
import socketserver
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from bench.burst.collector import Collector

OPERATIONS_PATH = "/_bench/operations"


class OperationCounter:
    """WSGI middleware: counts each request's operation, unless a client of the stack's own sent it."""

    def __init__(self, app: Callable[..., Iterable[bytes]], ignore_agent: str, collector: Collector) -> None:
        self._app = app
        self._collector = collector
        self._ignore = ignore_agent
        self._counts: Counter[str] = Counter()
        # moto's CPU by operation, the stack's own clients' (stream pollers, TTL sweeper) included.
        self._cpu: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == OPERATIONS_PATH:
            with self._lock:
                body = json.dumps(
                    {
                        "counts": self._counts,
                        "cpu_seconds": self._cpu,
                        "process_cpu_seconds": time.process_time(),
                        "collections": self._collector.summary(),
                    }
                ).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        own = self._ignore in str(environ.get("HTTP_USER_AGENT", ""))
        if target and not own:
            with self._lock:
                self._counts[target] += 1
        started = time.thread_time()
        answer = list(self._app(environ, start_response))
        spent = time.thread_time() - started
        with self._lock:
            self._cpu[("stack " if own else "") + (target or environ.get("PATH_INFO", "?"))] += spent
        return answer


def main() -> int:
    from local.stack import STACK_USER_AGENT, MotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    # Headers and body go out in two writes: without TCP_NODELAY each answer waits on a delayed ACK.
    socketserver.StreamRequestHandler.disable_nagle_algorithm = True
    collector = Collector()
    server = MotoServer("127.0.0.1", 0, wrap=lambda app: OperationCounter(app, STACK_USER_AGENT, collector))
    server.start()
    host, port = server.get_host_and_port()
    print(f"http://{host}:{port}", flush=True)
    sys.stdin.read()  # until the bench closes it, or dies
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
