"""The console's HTTP server, on 127.0.0.1 only, whatever address the stack listens on.

Routes: the page (`/`), its ES modules and styles (`/static/*`, and `/agent/cards.js` and
`/agent/cards.css`, the very files an agent's app imports), the live state as server-sent events
(`/api/stream`) or once (`/api/state`), one event's detail (`/api/events/<id>`), and two actions:
a message from a call (`POST /api/calls/<CallSid>/messages`, what `call.sendMessage` does) and a
ledger replay (`POST /api/ledger/<ref>/replay`, through `udm-bridge events replay`'s own code).

Every answer carries a strict Content-Security-Policy. A request must name this console as its Host
(a DNS-rebound page can't read it); an action must also come from the page's origin with its token,
as JSON, or it is refused with an RFC 9457 problem.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from bridge.domain.errors import BridgeError
from bridge.domain.phones import mask_key, mask_phones
from local.console import views
from local.console.feed import MAX_ENTRIES, Feed
from local.console.page import page
from local.console.watch import Watch
from local.state import ROOT

if TYPE_CHECKING:
    from local.front import HttpFront
    from local.twilio_emulator import TwilioEmulator
    from local.webhook_receiver import WebhookReceiver
    from ops.cli import Target

log = logging.getLogger("local.console")

STATIC = Path(__file__).parent / "static"
AGENT = ROOT / "agent"
# Nothing but this origin: no inline script or style, no other host, no frames, no plugins; and
# HTML goes into the page only through the one Trusted Types policy the cards renderer's output uses.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "font-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; "
    "require-trusted-types-for 'script'; trusted-types cards"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
# The SDK's messages are User Defined Messages too: Twilio's 10 KB Content limit.
MAX_CONTENT_BYTES = 10240
_MAX_ACTION_BYTES = 4 * MAX_CONTENT_BYTES
# Each open page holds one stream (a thread); more than this many means something is looping.
MAX_STREAMS = 16
_HEARTBEAT_SECONDS = 15.0

_EVENT = re.compile(r"/api/events/(\d{1,12})")
_SEND = re.compile(r"/api/calls/(CA[0-9a-f]{32})/messages")
_REPLAY = re.compile(r"/api/ledger/([0-9a-f]{24})/replay")


class Problem(Exception):
    """An RFC 9457 problem for the client."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        phrase = HTTPStatus(self.status).phrase
        return {"type": "about:blank", "title": phrase, "status": self.status, "detail": self.detail}


class ConsoleStack(Protocol):
    """What the console reads of the stack it shows (local/stack.py's LocalStack): a protocol, so
    the stack, which starts its console, is not imported by it."""

    aws_endpoint: str
    emulator: TwilioEmulator
    front: HttpFront | None
    receiver: WebhookReceiver


class Console:
    """The console of one local stack; start() after the stack's, stop() before it."""

    def __init__(self, stack: ConsoleStack, port: int = 0) -> None:
        self._stack = stack
        self.token = secrets.token_urlsafe(24)
        self.feed = Feed()
        self._target: Target | None = None
        self._actions = threading.Lock()  # one replay at a time
        self._building = threading.Lock()  # the target is built once
        self._streams = threading.BoundedSemaphore(MAX_STREAMS)
        self._open = 0  # streams open now
        self._counting = threading.Lock()
        self.watch = Watch(
            {"calls": self._calls, "events": self.feed.summaries, "ledger": self._ledger},
            wanted=lambda: self._open > 0,
        )
        self.feed.on_change = self.watch.poke
        self._files = {f"/static/{path.name}": path for path in STATIC.iterdir() if path.suffix in _TYPES}
        self._files.update({"/agent/cards.js": AGENT / "cards.js", "/agent/cards.css": AGENT / "cards.css"})
        self._server = _Server(("127.0.0.1", port), _handler(self))
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def hosts(self) -> frozenset[str]:
        return frozenset({f"127.0.0.1:{self.port}", f"localhost:{self.port}"})

    def start(self) -> Console:
        if self._stack.front is not None:
            self._stack.front.observers.append(self.feed.record)
        self._stack.receiver.observers.append(self.watch.poke)
        self.watch.start()
        self._thread = threading.Thread(target=self._server.serve_forever, name="console", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._stack.front is not None and self.feed.record in self._stack.front.observers:
            self._stack.front.observers.remove(self.feed.record)
        if self.watch.poke in self._stack.receiver.observers:
            self._stack.receiver.observers.remove(self.watch.poke)
        self.watch.stop()
        self._server.shutdown()
        self._server.server_close()

    # -- what it reads ---------------------------------------------------------------------------

    @property
    def target(self) -> Target:
        """The operations CLI's view of this stack: its registry, its ledger and its replay chain."""
        with self._building:
            if self._target is None:
                from ops.cli import Target, parser

                def loopback(url: str) -> str:
                    return url.replace("://0.0.0.0:", "://127.0.0.1:")

                stack = self._stack
                args = parser().parse_args(
                    [
                        "--local",
                        *("--endpoint-url", loopback(stack.aws_endpoint)),
                        *("--twilio-api-base-url", loopback(stack.emulator.base_url)),
                        *("--forward-url", loopback(stack.receiver.url)),
                        *("events", "failed"),
                    ]
                )
                self._target = Target(args)
            return self._target

    def _calls(self) -> list[dict[str, Any]]:
        stack = self._stack
        return views.calls(self.target.registry, stack.emulator, stack.receiver.received(), time.time())

    def _ledger(self) -> list[dict[str, Any]]:
        entries, _malformed = self.target.ledger.failed_since(0, include_replayed=True)  # the CLI lists those
        return views.ledger(entries)

    def state(self) -> dict[str, Any]:
        return {"calls": self._calls(), "events": self.feed.summaries(), "ledger": self._ledger()}

    def event(self, entry_id: int) -> dict[str, Any]:
        entry = self.feed.get(entry_id)
        if entry is None:
            raise Problem(404, "No such event in the console's recent events.")
        sids = set(entry.get("message_sids", ()))
        posted = [m for m in self._stack.emulator.messages() if m["sid"] in sids]
        entry["content"] = [
            {"message_sid": m["sid"], "call_sid": m["call_sid"], "content": _pretty(m["content"])} for m in posted
        ]
        return entry

    # -- what it does ----------------------------------------------------------------------------

    def send(self, call_sid: str, text: str) -> dict[str, Any]:
        """What the agent's `call.sendMessage` does: the emulator posts it to the call's subscriptions."""
        if not text.strip():
            raise Problem(400, "Write the message's content: JSON, or plain text.")
        if len(text.encode("utf-8")) > MAX_CONTENT_BYTES:
            raise Problem(413, f"A message's content is at most {MAX_CONTENT_BYTES} bytes.")
        try:
            content, content_type = json.loads(text), "application/json"
        except ValueError:
            content, content_type = text, "text/plain"
        emulator = self._stack.emulator
        try:
            sent = emulator.subscriptions.send(emulator, call_sid, content, content_type, "form")
        except KeyError:
            raise Problem(404, "The emulator has no such call.") from None
        except ValueError as error:
            raise Problem(409, str(error)) from None
        self.watch.poke()
        callbacks = [delivery["status_code"] or delivery["error"] for delivery in sent["deliveries"]]
        log.info("console sent a message from a call", extra={"call_sid": call_sid, "message_sid": sent["sid"]})
        return {"sid": sent["sid"], "content_type": content_type, "callbacks": callbacks}

    def replay(self, ref: str, to: str | None) -> dict[str, Any]:
        """`udm-bridge events replay <event key> [--to KEY]`, by the CLI's own function."""
        from ops.cli import replay

        target = self.target
        with self._actions:
            entry = views.ledger_entry(target.ledger, ref)
            if entry is None:
                raise Problem(404, "The ledger has no such entry.")
            try:
                result = replay(entry, target, to or None)
            except BridgeError as error:
                raise Problem(error.status if error.status < 500 else 502, error.detail) from None
        if result.get("status") == "refused":  # the CLI's flags mean nothing on the page
            result["detail"] = "it was too old for its recipient's call when it arrived; name the call it is for in To"
        self.watch.poke()
        log.info("console replayed a ledger entry", extra={"status": result.get("status")})
        shown = {**result, "event_key": mask_phones(str(result.get("event_key", "")))}
        if "recipient" in shown:
            shown["recipient"] = mask_key(str(shown["recipient"]))
        return shown


def _pretty(content: str) -> str:
    try:
        return mask_phones(json.dumps(json.loads(content), indent=2, ensure_ascii=False))
    except ValueError:
        return mask_phones(content)


class _Server(ThreadingHTTPServer):
    daemon_threads = True


def _handler(console: Console) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "udm-bridge-console"
        sys_version = ""

        def log_message(self, format: str, *args: object) -> None:
            return None

        def do_GET(self) -> None:
            self._answer(self._get)

        def do_HEAD(self) -> None:
            self._answer(self._get)

        def do_POST(self) -> None:
            self._answer(self._post)

        def __getattr__(self, name: str) -> Any:
            if name.startswith("do_"):  # PUT, DELETE, anything else: not here
                return lambda: self._answer(self._refuse_method)
            raise AttributeError(name)

        def _refuse_method(self) -> None:
            raise Problem(405, "The console answers GET and POST.", {"Allow": "GET, HEAD, POST"})

        def _answer(self, route: Callable[[], None]) -> None:
            try:
                if self.headers.get("Host", "") not in console.hosts:
                    raise Problem(403, "The console answers only requests addressed to it on 127.0.0.1.")
                route()
            except Problem as problem:
                body = json.dumps(problem.body()).encode()
                self._send(problem.status, body, "application/problem+json", problem.headers)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def _get(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/":
                front = console._stack.front.base_url if console._stack.front is not None else ""
                self._send(200, page(console.token, front, MAX_ENTRIES), "text/html; charset=utf-8")
            elif path in console._files:
                file = console._files[path]
                self._send(200, file.read_bytes(), _TYPES[file.suffix])
            elif path == "/api/stream":
                self._stream()
            elif path == "/api/state":
                self._json(200, console.state())
            elif match := _EVENT.fullmatch(path):
                self._json(200, console.event(int(match[1])))
            else:
                raise Problem(404, "Nothing here.")

        def _post(self) -> None:
            path = self.path.split("?", 1)[0]
            send, replay = _SEND.fullmatch(path), _REPLAY.fullmatch(path)
            if send is None and replay is None:
                raise Problem(404, "Nothing here.")
            data = self._action()
            if send is not None:
                text = data.get("content")
                if not isinstance(text, str):
                    raise Problem(400, '"content" must be a string: the message as the app sends it.')
                self._json(200, console.send(send[1], text))
                return
            to = data.get("to")
            if to is not None and not isinstance(to, str):
                raise Problem(400, '"to" must be a recipient key, or left out.')
            self._json(200, console.replay(replay[1] if replay else "", to.strip() if to else None))

        def _action(self) -> dict[str, Any]:
            """An action's JSON body, once the request is shown to come from the console's own page."""
            origins = {f"http://{host}" for host in console.hosts}
            if self.headers.get("Origin") not in origins:
                raise Problem(403, "Actions are taken only from the console's own page.")
            token = self.headers.get("X-Console-Token", "")
            if not hmac.compare_digest(token.encode(), console.token.encode()):
                raise Problem(403, "Actions are taken only from the console's own page.")
            if self.headers.get_content_type() != "application/json":
                raise Problem(415, "Send the action as application/json.")
            length = self.headers.get("Content-Length", "")
            if not (length.isascii() and length.isdigit()):
                raise Problem(411, "Send a Content-Length.")
            if int(length) > _MAX_ACTION_BYTES:
                self.close_connection = True
                raise Problem(413, "The action's body is too large.")
            try:
                data = json.loads(self.rfile.read(int(length)))
            except (ValueError, UnicodeDecodeError):
                raise Problem(400, "The body must be a JSON object.") from None
            if not isinstance(data, dict):
                raise Problem(400, "The body must be a JSON object.")
            return data

        def _stream(self) -> None:
            if not console._streams.acquire(blocking=False):
                raise Problem(503, "Too many open consoles.", {"Retry-After": "5"})
            with console._counting:
                console._open += 1
            try:
                console.watch.rebuild()  # nothing was rebuilt while no page was open
                self.close_connection = True
                self.send_response(200)
                for name, value in SECURITY_HEADERS.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "text/event-stream; charset=utf-8")
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(b"retry: 1000\n\n")
                seen: dict[str, int] = {}
                while not console.watch.stopping:
                    fresh = console.watch.changed_since(seen, _HEARTBEAT_SECONDS)
                    chunks = [f"event: {topic}\ndata: {text}\n\n" for topic, text in fresh.items()]
                    self.wfile.write("".join(chunks or [": still here\n\n"]).encode("utf-8"))
                    self.wfile.flush()
            finally:
                with console._counting:
                    console._open -= 1
                console._streams.release()

        def _json(self, status: int, value: Any) -> None:
            self._send(status, json.dumps(value, ensure_ascii=False).encode("utf-8"), "application/json")

        def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for name, value in {**SECURITY_HEADERS, **(extra or {})}.items():
                self.send_header(name, value)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

    return Handler
