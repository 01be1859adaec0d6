"""The emulator on HTTP: Twilio's REST routes, the control API's prefix, and the server's lifecycle.

``TwilioEmulator`` is the model with a ThreadingHTTPServer on loopback, served from a daemon thread.
The handler owns everything about the wire (Basic auth header, bodies, keep-alive, dropped connections)
and asks the model, through its public methods, what to answer.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self, cast

from local.twilio_emulator import control
from local.twilio_emulator.model import Account, EmulatorModel
from local.twilio_emulator.wire import Reply, json_reply, twilio_error, twilio_not_found

logger = logging.getLogger(__name__)

# Segments are matched loosely so malformed SIDs get Twilio's 404 rather than falling through.
_UDM_PATH_RE = re.compile(r"/2010-04-01/Accounts/([^/]+)/Calls/([^/]+)/UserDefinedMessages\.json")
_SUBSCRIPTIONS_PATH_RE = re.compile(
    r"/2010-04-01/Accounts/([^/]+)/Calls/([^/]+)/UserDefinedMessageSubscriptions(?:/([^/]+))?\.json"
)

# Far above any legitimate UDM form body; bounds memory for a misbehaving client.
_MAX_BODY_BYTES = 1024 * 1024
_IDLE_TIMEOUT_SECONDS = 60.0


class TwilioEmulator(EmulatorModel):
    """In-process Twilio REST API emulator serving HTTP on loopback from a daemon thread."""

    def __init__(self, accounts: Iterable[Account], host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(accounts)
        self._host = host
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError("emulator already started")
        server = _Server((self._host, self._port), self)
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="twilio-emulator", daemon=True
        )
        thread.start()
        self._server, self._thread = server, thread
        logger.debug("twilio emulator listening on %s", self.base_url)
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = self._thread = None
        server.shutdown()
        server.server_close()
        # Keep-alive handler threads would otherwise linger on idle pooled client connections.
        server.close_connections()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self if self._server is not None else self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("emulator is not running; call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"


class _BodyError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def basic_credentials(authorization: str | None) -> tuple[bytes, bytes] | None:
    """The (username, password) of a Basic ``Authorization`` header, or None if it isn't one."""
    if not authorization:
        return None
    scheme, _, param = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(param.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    username, sep, password = decoded.partition(b":")
    if not sep:
        return None
    return username, password


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], model: EmulatorModel) -> None:
        self.model = model
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The default prints a traceback to stderr; clients vanishing mid-request is routine here.
        logger.debug("error while handling request from %s", client_address, exc_info=True)

    def track(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.add(conn)

    def untrack(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.discard(conn)

    def close_connections(self) -> None:
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 so the twilio client's pooled requests.Session can keep connections alive.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without this each answer waits on a delayed ACK.
    disable_nagle_algorithm = True
    server_version = "TwilioEmulator/1.0"
    sys_version = ""
    timeout = _IDLE_TIMEOUT_SECONDS

    @property
    def _emulator_server(self) -> _Server:
        return cast(_Server, self.server)

    def setup(self) -> None:
        super().setup()
        self._emulator_server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self._emulator_server.untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s - " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        try:
            self._route(method)
        except OSError:
            # The client went away (or the emulator is stopping); nothing left to answer.
            self.close_connection = True
        except Exception:
            logger.exception("twilio emulator failed handling %s %s", method, self.path)
            self.close_connection = True
            with contextlib.suppress(OSError):
                self._send(twilio_error(500, 20500, "Internal Server Error"))

    def _route(self, method: str) -> None:
        path = urllib.parse.urlsplit(self.path).path
        udm = _UDM_PATH_RE.fullmatch(path)
        if udm is not None and method == "POST":
            self._udm_post(path, udm.group(1), udm.group(2))
            return
        try:
            body = self._read_body()
        except _BodyError as exc:
            self.close_connection = True
            if control.is_control_path(path):
                self._send(json_reply(exc.status, {"error": exc.message}))
            else:
                self._send(twilio_error(exc.status, 20001, exc.message))
            return
        subscriptions = _SUBSCRIPTIONS_PATH_RE.fullmatch(path)
        if subscriptions is not None:
            # A REST request like a UDM: it takes one of the account's concurrent slots while answered.
            model, account_sid = self._emulator_server.model, subscriptions.group(1)
            throttled = model.enter_request(account_sid)
            if throttled is not None:
                self._send(throttled)
                return
            try:
                reply = self._subscriptions(method, path, body, *subscriptions.groups())
            finally:
                model.leave_request(account_sid)
            self._send(reply)
        elif control.is_control_path(path):
            self._send(control.handle(self._emulator_server.model, method, path, body))
        elif udm is not None:
            self._send(twilio_error(405, 20004, "Method not allowed", {"Allow": "POST"}))
        else:
            self._send(twilio_not_found(path))

    def _udm_post(self, path: str, account_sid: str, call_sid: str) -> None:
        model = self._emulator_server.model
        throttled = model.enter_request(account_sid)
        if throttled is not None:
            model.begin_udm_request(throttled=True)
            self._send_throttled(throttled)
            return
        try:
            reply = self._udm_exchange(path, account_sid, call_sid)
        finally:
            model.leave_request(account_sid)
        # The slot is free before the answer leaves: a client that waits for each answer never has two
        # requests in flight, as it can't at Twilio.
        if reply is None:
            self._drop()
        else:
            self._send(reply)

    def _send_throttled(self, reply: Reply) -> None:
        """The account is at its concurrency limit: the body is read (the connection stays usable) and 429 sent."""
        try:
            self._read_body()
        except _BodyError:
            self.close_connection = True
        self._send(reply)

    def _udm_exchange(self, path: str, account_sid: str, call_sid: str) -> Reply | None:
        """The answer to a UDM POST, or None when a fault drops the connection instead."""
        model = self._emulator_server.model
        fault = model.begin_udm_request()
        try:
            body = self._read_body()
        except _BodyError as exc:
            self.close_connection = True
            return twilio_error(exc.status, 20001, exc.message)
        # The standing round trip (set_udm_latency), plus a queued fault's own latency.
        delay_ms = model.udm_latency() + ((fault.latency_ms or 0.0) if fault is not None else 0.0)
        if delay_ms > 0:
            time.sleep(delay_ms / 1000.0)  # in this connection's thread: concurrent requests wait alongside
        if fault is not None and fault.status is not None:
            return fault.reply()
        if fault is not None and fault.drop == "before":
            return None
        credentials = basic_credentials(self.headers.get("Authorization"))
        reply = model.accept_udm(path, account_sid, call_sid, credentials, body)
        if fault is not None and fault.drop == "after":
            return None
        return reply

    def _subscriptions(self, method: str, path: str, body: bytes, account: str, call: str, sid: str | None) -> Reply:
        """UserDefinedMessageSubscriptions: POST the collection, DELETE one; Basic auth as for UDMs."""
        model = self._emulator_server.model
        credentials = basic_credentials(self.headers.get("Authorization"))
        found = None if credentials is None else model.account_for(*credentials)
        if found is None or found.account_sid != account:
            return twilio_error(401, 20003, "Authenticate", {"WWW-Authenticate": 'Basic realm="Twilio API"'})
        if sid is None and method == "POST":
            try:
                form = urllib.parse.parse_qs(body.decode("utf-8"), keep_blank_values=True)
            except UnicodeDecodeError:
                return twilio_error(400, 20001, "Request body must be UTF-8 encoded form data")
            return model.subscriptions.create(model, account, call, form)
        if sid is not None and method == "DELETE":
            return model.subscriptions.delete(account, call, sid, path)
        return twilio_error(405, 20004, "Method not allowed", {"Allow": "POST" if sid is None else "DELETE"})

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding"):
            raise _BodyError(411, "Chunked request bodies are not supported; send Content-Length")
        raw_length = self.headers.get("Content-Length")
        if raw_length is None:
            return b""
        try:
            length = int(raw_length)
        except ValueError:
            raise _BodyError(400, "Invalid Content-Length header") from None
        if length < 0:
            raise _BodyError(400, "Invalid Content-Length header")
        if length > _MAX_BODY_BYTES:
            raise _BodyError(413, "Request body too large")
        return self.rfile.read(length)

    def _drop(self) -> None:
        # Nothing has been written, so closing now looks to the client like a dropped connection.
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        has_body = reply.status not in (204, 304) and reply.status >= 200
        if has_body:
            self.send_header("Content-Length", str(len(reply.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if has_body and reply.body:
            self.wfile.write(reply.body)
