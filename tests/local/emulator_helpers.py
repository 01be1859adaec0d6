"""What the emulator's tests share: the accounts they use, the real twilio client pointed at an emulator,
UDM senders, and a receiver that records the status callbacks the emulator POSTs."""

import json
import re
import socket
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from local.twilio_emulator import TwilioEmulator

ACCOUNT_SID = "AC" + "a" * 32
AUTH_TOKEN = "emulator-test-auth-token"
API_KEY_SID = "SK" + "b" * 32
API_KEY_SECRET = "emulator-test-api-key-secret"
OTHER_ACCOUNT_SID = "AC" + "c" * 32
OTHER_AUTH_TOKEN = "other-account-auth-token"

KX_SID = re.compile(r"^KX[0-9a-f]{32}$")


# -- clients & senders --------------------------------------------------------------------------------


def _twilio_client(emulator: TwilioEmulator, *credentials: str) -> Client:
    client = Client(*credentials)
    # A TWILIO_EDGE/TWILIO_REGION in the environment would rewrite the host away from the emulator.
    client.edge = None
    client.region = None
    client.api.base_url = emulator.base_url
    return client


def _send_udm(client: Client, call_sid: str, payload: Any = None, idempotency_key: str | None = None) -> Any:
    content = json.dumps(payload if payload is not None else {"event": "test"})
    if idempotency_key is None:
        return client.calls(call_sid).user_defined_messages.create(content=content)
    udms = client.calls(call_sid).user_defined_messages
    return udms.create(content=content, idempotency_key=idempotency_key)


def _udm_url(emulator: TwilioEmulator, call_sid: str, account_sid: str = ACCOUNT_SID) -> str:
    return f"{emulator.base_url}/2010-04-01/Accounts/{account_sid}/Calls/{call_sid}/UserDefinedMessages.json"


def _post_raw(
    emulator: TwilioEmulator,
    call_sid: str,
    data: dict[str, str],
    auth: tuple[str, str] | None = (ACCOUNT_SID, AUTH_TOKEN),
) -> requests.Response:
    return requests.post(_udm_url(emulator, call_sid), data=data, auth=auth, timeout=10)


# -- a receiver for status callbacks ------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """One POST as the receiver saw it; `url` is rebuilt from Host + request target, as a server would."""

    url: str
    header_names: tuple[str, ...]
    headers: dict[str, str]  # lower-case names
    form: dict[str, str]


class CallbackReceiver:
    """A stand-in for the bridge's HTTP front: records every POST and answers `status` (204)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self.status = 204
        self.on_post: Callable[[Received], None] | None = None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8")
                pairs = urllib.parse.parse_qsl(body, keep_blank_values=True, strict_parsing=True)
                form = dict(pairs)
                # Twilio never repeats a status callback parameter; a dict must not hide one.
                assert len(form) == len(pairs)
                received = Received(
                    url=f"http://{self.headers['Host']}{self.path}",
                    header_names=tuple(self.headers.keys()),
                    headers={name.lower(): value for name, value in self.headers.items()},
                    form=form,
                )
                with receiver._lock:
                    receiver._received.append(received)
                if receiver.on_post is not None:
                    receiver.on_post(received)
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> "CallbackReceiver":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def url(self, path_and_query: str = "/twilio/call-status") -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path_and_query}"

    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def clear(self) -> None:
        with self._lock:
            self._received.clear()
        self.status = 204
        self.on_post = None


DIAL_QUERY = "?key=identity:alice&leg=parent"
CHILD_PARAMS = {
    "AccountSid",
    "ApiVersion",
    "CallSid",
    "CallStatus",
    "Called",
    "Caller",
    "Direction",
    "From",
    "To",
    "ParentCallSid",
    "SequenceNumber",
    "Timestamp",
    "CallbackSource",
}


def _signed_for(received: Received, token: str = AUTH_TOKEN) -> bool:
    return bool(RequestValidator(token).validate(received.url, received.form, received.headers["x-twilio-signature"]))


def _statuses(received: list[Received]) -> list[str]:
    return [item.form["CallStatus"] for item in received]


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/twilio/call-status"


def _call_status(emulator: TwilioEmulator, call_sid: str) -> str:
    return str(next(call["status"] for call in emulator.calls() if call["sid"] == call_sid))
