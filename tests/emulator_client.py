"""One generic client for the Twilio emulator's JSON control API (``/_emulator/...``), for tests that
drive it over HTTP the way a process without the in-process emulator would."""

from __future__ import annotations

import http.client
import json
import urllib.parse
from typing import Any

# A control call that places, answers or hangs up a call answers only after its callbacks were sent.
_TIMEOUT_SECONDS = 30.0


class ControlClient:
    def __init__(self, base_url: str) -> None:
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"base_url must be an http:// URL, got {base_url!r}")
        self._host, self._port = parts.hostname, parts.port
        self._prefix = parts.path.rstrip("/") + "/_emulator"

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """``method`` on ``/_emulator{path}`` with an optional JSON body: (status, JSON body or None)."""
        data = None if body is None else json.dumps(body).encode("utf-8")
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        # http.client, not requests or urllib: no proxy from the environment, one connection per call.
        connection = http.client.HTTPConnection(self._host, self._port, timeout=_TIMEOUT_SECONDS)
        try:
            connection.request(method, self._prefix + path, body=data, headers=headers)
            response = connection.getresponse()
            raw = response.read()
        finally:
            connection.close()
        return response.status, json.loads(raw) if raw else None

    def get(self, path: str) -> Any:
        """The JSON body of a GET that must succeed."""
        return self._ok("GET", path)

    def post(self, path: str, body: Any = None) -> Any:
        """The JSON body (None for 204) of a POST that must succeed."""
        return self._ok("POST", path, body)

    def _ok(self, method: str, path: str, body: Any = None) -> Any:
        status, payload = self.call(method, path, body)
        assert 200 <= status < 300, f"{method} {path} answered {status}: {payload}"
        return payload
