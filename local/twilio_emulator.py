"""Local stand-in for the slice of Twilio's REST API the bridge uses (Call User Defined Messages).

The real ``twilio`` client can be pointed at it (``client.api.base_url = emulator.base_url``) so the
bridge and its tests talk real HTTP over loopback. A JSON control API under ``/_emulator/`` (and the
matching in-process helpers) creates calls, changes their status, injects faults and exposes what was
accepted. It also simulates Voice SDK calls (inbound to and outbound from a client identity) and POSTs the
status callbacks Twilio would send for them, signed with twilio's RequestValidator as Twilio signs them.
Standard library only, apart from that signer.

Run standalone::

    python -m local.twilio_emulator --port 4010 --account-sid AC... --auth-token ...
"""

import argparse
import base64
import binascii
import contextlib
import email.utils
import http.client
import json
import logging
import os
import re
import secrets
import signal
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Any, Self, cast

from twilio.request_validator import RequestValidator

__all__ = ["CALL_STATUSES", "Account", "EmulatorControl", "TwilioEmulator", "main"]

logger = logging.getLogger(__name__)

CALL_STATUSES: frozenset[str] = frozenset(
    {"queued", "initiated", "ringing", "in-progress", "completed", "busy", "failed", "no-answer", "canceled"}
)
_UDM_ACCEPTING_STATUSES = frozenset({"ringing", "in-progress"})
_FINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
_NOT_IN_PROGRESS_MESSAGE = "Call is not in-progress or ringing. Cannot send User Defined Message"

_ACCOUNT_SID_RE = re.compile(r"AC[0-9a-fA-F]{32}")
_CALL_SID_RE = re.compile(r"CA[0-9a-fA-F]{32}")
_API_KEY_SID_RE = re.compile(r"SK[0-9a-fA-F]{32}")
# Segments are matched loosely so malformed SIDs get Twilio's 404 rather than falling through.
_UDM_PATH_RE = re.compile(r"/2010-04-01/Accounts/([^/]+)/Calls/([^/]+)/UserDefinedMessages\.json")
_CALL_CONTROL_PATH_RE = re.compile(r"/_emulator/calls/([^/]+)")
_CALL_ACTION_PATH_RE = re.compile(r"/_emulator/calls/([^/]+)/(answer|hangup)")
_CALLBACK_REPLAY_PATH_RE = re.compile(r"/_emulator/callbacks/([^/]+)/replay")

_MAX_CONTENT_BYTES = 10240
# Far above any legitimate UDM form body; bounds memory for a misbehaving client.
_MAX_BODY_BYTES = 1024 * 1024
_IDLE_TIMEOUT_SECONDS = 60.0

_FAULT_KEYS = frozenset({"status", "count", "retry_after", "latency_ms", "drop", "code", "message"})
_FAULT_STATUS_ERRORS: dict[int, tuple[int, str]] = {
    429: (20429, "Too Many Requests"),
    500: (20500, "Internal Server Error"),
    503: (20503, "Service Unavailable"),
}

# Simulated Voice SDK calls: the numbers Twilio would show and the call progress events a leg can report.
_TWILIO_NUMBER = "+15550001111"
_DEFAULT_CALLER = "+15551230000"
_DEFAULT_DIALLED = "+15557654321"
_CALLBACK_EVENTS: tuple[str, ...] = ("initiated", "ringing", "answered", "completed")
_EVENT_STATUS = {"initiated": "initiated", "ringing": "ringing", "answered": "in-progress"}
_CALLBACK_TIMEOUT_SECONDS = 10.0
# A control request that delivers callbacks answers only after each one (up to 10 s apiece) was sent.
_CALLBACK_CONTROL_TIMEOUT_SECONDS = 120.0
_PLACE_KEYS = frozenset({"identity", "status_callback", "account_sid", "events"})

JSONDict = dict[str, Any]


@dataclass(frozen=True)
class Account:
    """Credentials the emulator accepts for one Twilio account (auth token and optional API key)."""

    account_sid: str
    # Secrets stay out of repr() so they can't leak into logs or pytest failure output.
    auth_token: str = field(repr=False)
    api_key_sid: str | None = None
    api_key_secret: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not _ACCOUNT_SID_RE.fullmatch(self.account_sid):
            raise ValueError(f"account_sid must match ^AC[0-9a-fA-F]{{32}}$, got {self.account_sid!r}")
        if not self.auth_token:
            raise ValueError("auth_token must not be empty")
        if (self.api_key_sid is None) != (self.api_key_secret is None):
            raise ValueError("api_key_sid and api_key_secret must be given together")
        if self.api_key_sid is not None and not _API_KEY_SID_RE.fullmatch(self.api_key_sid):
            raise ValueError(f"api_key_sid must match ^SK[0-9a-fA-F]{{32}}$, got {self.api_key_sid!r}")
        if self.api_key_secret is not None and not self.api_key_secret:
            raise ValueError("api_key_secret must not be empty")


@dataclass
class _Leg:
    """What a simulated Voice SDK leg looks like to Twilio, and where its status callbacks go."""

    direction: str
    from_: str
    to: str
    parent_sid: str | None
    callback_url: str | None
    events: frozenset[str]
    # False for a TwiML App's own status callback: only "completed", without SequenceNumber/CallbackSource.
    progress_events: bool = True
    child_sid: str | None = None
    sequence: int = 0
    answered_at: float | None = None


@dataclass
class _Call:
    sid: str
    account_sid: str
    status: str
    leg: _Leg | None = None

    def as_dict(self) -> JSONDict:
        data: JSONDict = {"sid": self.sid, "account_sid": self.account_sid, "status": self.status}
        if self.leg is not None:
            data.update(
                {
                    "direction": self.leg.direction,
                    "from": self.leg.from_,
                    "to": self.leg.to,
                    "parent_call_sid": self.leg.parent_sid,
                }
            )
        return data


@dataclass
class _Callback:
    index: int
    url: str
    params: dict[str, str]
    signature: str
    held: bool
    status_code: int | None = None
    error: str | None = None

    def as_dict(self) -> JSONDict:
        return {
            "index": self.index,
            "url": self.url,
            "params": dict(self.params),
            "signature": self.signature,
            "status_code": self.status_code,
            "error": self.error,
            "held": self.held,
        }


@dataclass
class _Fault:
    remaining: int
    status: int | None = None
    retry_after: int | None = None
    code: int | None = None
    message: str | None = None
    latency_ms: float | None = None
    drop: str | None = None

    def as_dict(self) -> JSONDict:
        raw: JSONDict = {
            "count": self.remaining,
            "status": self.status,
            "retry_after": self.retry_after,
            "code": self.code,
            "message": self.message,
            "latency_ms": self.latency_ms,
            "drop": self.drop,
        }
        return {key: value for key, value in raw.items() if value is not None}


@dataclass
class _Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class _BodyError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _is_int(value: object) -> bool:
    # bool is an int subclass; True must not silently mean 1.
    return isinstance(value, int) and not isinstance(value, bool)


def _parse_fault(raw: object) -> _Fault:
    if not isinstance(raw, Mapping):
        raise ValueError(f"a fault must be a JSON object, got {type(raw).__name__}")
    unknown = set(raw) - _FAULT_KEYS
    if unknown:
        raise ValueError(f"unknown fault keys: {sorted(unknown)}")
    count = raw.get("count", 1)
    if not _is_int(count) or count < 1:
        raise ValueError("fault 'count' must be an integer >= 1")
    status = raw.get("status")
    if status is not None and (not _is_int(status) or not 400 <= status <= 599):
        raise ValueError("fault 'status' must be an integer HTTP status in 400..599")
    drop = raw.get("drop")
    if drop is not None and drop not in ("before", "after"):
        raise ValueError("fault 'drop' must be 'before' or 'after'")
    latency_ms = raw.get("latency_ms")
    if latency_ms is not None and (
        isinstance(latency_ms, bool) or not isinstance(latency_ms, int | float) or latency_ms < 0
    ):
        raise ValueError("fault 'latency_ms' must be a number >= 0")
    retry_after = raw.get("retry_after")
    if retry_after is not None and (not _is_int(retry_after) or retry_after < 0):
        raise ValueError("fault 'retry_after' must be an integer number of seconds >= 0")
    code = raw.get("code")
    if code is not None and not _is_int(code):
        raise ValueError("fault 'code' must be an integer")
    message = raw.get("message")
    if message is not None and not isinstance(message, str):
        raise ValueError("fault 'message' must be a string")
    if status is None and drop is None and latency_ms is None:
        raise ValueError("a fault needs at least one of 'status', 'drop', 'latency_ms'")
    if status is not None and drop is not None:
        raise ValueError("a fault cannot both answer with 'status' and 'drop' the connection")
    if status is None and (retry_after is not None or code is not None or message is not None):
        raise ValueError("'retry_after', 'code' and 'message' only apply to a 'status' fault")
    return _Fault(
        remaining=count,
        status=status,
        retry_after=retry_after,
        code=code,
        message=message,
        latency_ms=latency_ms,
        drop=drop,
    )


def _iter_faults(fault: Mapping[str, Any] | Iterable[Mapping[str, Any]]) -> list[_Fault]:
    items: Iterable[object] = [fault] if isinstance(fault, Mapping) else fault
    return [_parse_fault(item) for item in items]


def _check_status(status: object) -> str:
    if not isinstance(status, str) or status not in CALL_STATUSES:
        raise ValueError(f"invalid call status {status!r}; expected one of {sorted(CALL_STATUSES)}")
    return status


def _check_final_status(status: object) -> str:
    if not isinstance(status, str) or status not in _FINAL_STATUSES:
        raise ValueError(f"invalid final call status {status!r}; expected one of {sorted(_FINAL_STATUSES)}")
    return status


def _check_text(value: object, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name!r} must be a non-empty string")
    return value


def _check_callback_url(url: object, name: str) -> str:
    problem = f"{name!r} must be an http(s) URL, got {url!r}"
    if not isinstance(url, str):
        raise ValueError(problem)
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that isn't one
    except ValueError:
        raise ValueError(problem) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(problem)
    return url


def _parse_events(events: object) -> frozenset[str]:
    # statusCallbackEvent is space-separated in TwiML; accept that as well as a list.
    items = events.split() if isinstance(events, str) else events
    if isinstance(items, Mapping) or not isinstance(items, Iterable):
        raise ValueError("'events' must be a list of event names")
    parsed = list(items)
    for event in parsed:
        if event not in _CALLBACK_EVENTS:
            raise ValueError(f"invalid status callback event {event!r}; expected some of {list(_CALLBACK_EVENTS)}")
    return frozenset(parsed)


def _rfc2822_now() -> str:
    stamp = email.utils.format_datetime(datetime.now(UTC))
    # Twilio always writes "+0000"; never let a "-0000"/"GMT" variant through.
    if not stamp.endswith("+0000"):
        stamp = stamp.rsplit(" ", 1)[0] + " +0000"
    return stamp


def _json_reply(status: int, payload: object, headers: Mapping[str, str] | None = None) -> _Reply:
    reply_headers = {"Content-Type": "application/json"}
    reply_headers.update(headers or {})
    return _Reply(status, json.dumps(payload).encode("utf-8"), reply_headers)


def _twilio_error(status: int, code: int, message: str, headers: Mapping[str, str] | None = None) -> _Reply:
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    reply_headers = {"Twilio-Request-Id": "RQ" + secrets.token_hex(16)}
    reply_headers.update(headers or {})
    return _json_reply(status, body, reply_headers)


def _twilio_not_found(path: str) -> _Reply:
    return _twilio_error(404, 20404, f"The requested resource {path} was not found")


def _fault_reply(fault: _Fault) -> _Reply:
    status = cast(int, fault.status)
    default_code, default_message = _FAULT_STATUS_ERRORS.get(
        status, (20000 + status, HTTPStatus(status).phrase if status in HTTPStatus else "Error")
    )
    headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
    return _twilio_error(
        status,
        fault.code if fault.code is not None else default_code,
        fault.message or default_message,
        headers,
    )


def _reject_json_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _is_json(text: str) -> bool:
    try:
        json.loads(text, parse_constant=_reject_json_constant)
    except ValueError:  # JSONDecodeError is a ValueError
        return False
    return True


class TwilioEmulator:
    """In-process Twilio REST API emulator serving HTTP on loopback from a daemon thread."""

    def __init__(self, accounts: Iterable[Account], host: str = "127.0.0.1", port: int = 0) -> None:
        self._accounts: tuple[Account, ...] = tuple(accounts)
        if not self._accounts:
            raise ValueError("at least one Account is required")
        sids = [account.account_sid for account in self._accounts]
        if len(set(sids)) != len(sids):
            raise ValueError("account SIDs must be unique")
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._calls: dict[str, _Call] = {}
        self._messages: list[JSONDict] = []
        self._idempotency: dict[tuple[str, str, str], JSONDict] = {}
        self._faults: deque[_Fault] = deque()
        self._stats: dict[str, int] = self._zero_stats()
        self._connections: set[socket.socket] = set()
        self._callbacks: list[_Callback] = []
        self._holding = False
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------------

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
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
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

    @property
    def accounts(self) -> tuple[Account, ...]:
        return self._accounts

    # -- state helpers (shared by the HTTP control API) ------------------------------------------------

    def create_call(
        self, account_sid: str | None = None, status: str = "in-progress", sid: str | None = None
    ) -> JSONDict:
        owner = self._accounts[0].account_sid if account_sid is None else account_sid
        if owner not in {account.account_sid for account in self._accounts}:
            raise ValueError(f"unknown account_sid {owner!r}")
        _check_status(status)
        if sid is None:
            sid = "CA" + secrets.token_hex(16)
        elif not isinstance(sid, str) or not _CALL_SID_RE.fullmatch(sid):
            raise ValueError(f"call sid must match ^CA[0-9a-fA-F]{{32}}$, got {sid!r}")
        with self._lock:
            if sid in self._calls:
                raise ValueError(f"call {sid} already exists")
            call = _Call(sid=sid, account_sid=owner, status=status)
            self._calls[sid] = call
            return call.as_dict()

    def set_call_status(self, call_sid: str, status: str) -> JSONDict:
        _check_status(status)
        with self._lock:
            call = self._calls.get(call_sid)
            if call is None:
                raise KeyError(f"unknown call {call_sid}")
            call.status = status
            return call.as_dict()

    def calls(self) -> list[JSONDict]:
        with self._lock:
            return [call.as_dict() for call in self._calls.values()]

    def messages(self) -> list[JSONDict]:
        with self._lock:
            return [dict(message) for message in self._messages]

    def stats(self) -> dict[str, int]:
        with self._lock:
            return dict(self._stats)

    def add_fault(self, fault: Mapping[str, Any] | Iterable[Mapping[str, Any]]) -> None:
        """Queue one fault (or several, in order). Invalid input raises ValueError and queues nothing."""
        parsed = _iter_faults(fault)
        with self._lock:
            self._faults.extend(parsed)

    def faults(self) -> list[JSONDict]:
        with self._lock:
            return [fault.as_dict() for fault in self._faults]

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
            self._messages.clear()
            self._idempotency.clear()
            self._faults.clear()
            self._stats = self._zero_stats()
            self._callbacks.clear()
            self._holding = False

    # -- simulated Voice SDK calls and their status callbacks -----------------------------------------
    # Call state changes under the lock; callbacks are POSTed after it is released, because the receiver
    # may call back into the emulator (a UDM to the call) while it handles one.

    def place_inbound(
        self,
        identity: str,
        status_callback: str,
        *,
        account_sid: str | None = None,
        caller: str = _DEFAULT_CALLER,
        events: Iterable[str] = _CALLBACK_EVENTS,
    ) -> JSONDict:
        """A PSTN caller rings the Twilio number, whose TwiML dials ``<Client>identity</Client>``.

        The child leg (to ``client:identity``) reports to ``status_callback``; it is left ringing.
        """
        _check_text(identity, "identity")
        _check_text(caller, "caller")
        url = _check_callback_url(status_callback, "status_callback")
        wanted = _parse_events(events)
        parent = _Leg("inbound", caller, _TWILIO_NUMBER, None, None, frozenset())
        child = _Leg("outbound-dial", caller, "client:" + identity, None, url, wanted)
        return self._place(self._owner(account_sid), parent, child)

    def place_outbound(
        self,
        identity: str,
        status_callback: str,
        app_status_callback: str | None = None,
        *,
        account_sid: str | None = None,
        to: str = _DEFAULT_DIALLED,
        events: Iterable[str] = _CALLBACK_EVENTS,
    ) -> JSONDict:
        """``client:identity`` calls ``to`` through a TwiML App, whose TwiML dials ``<Number>to</Number>``.

        The child leg reports to ``status_callback``; the parent (the SDK leg) sends only its ``completed``
        to ``app_status_callback``, the TwiML App's own status callback URL. The child is left ringing.
        """
        _check_text(identity, "identity")
        _check_text(to, "to")
        url = _check_callback_url(status_callback, "status_callback")
        app_url = None
        if app_status_callback is not None:
            app_url = _check_callback_url(app_status_callback, "app_status_callback")
        wanted = _parse_events(events)
        only_completed = frozenset({"completed"})
        parent = _Leg("inbound", "client:" + identity, to, None, app_url, only_completed, progress_events=False)
        child = _Leg("outbound-dial", _TWILIO_NUMBER, to, None, url, wanted)
        return self._place(self._owner(account_sid), parent, child)

    def answer(self, call_sid: str) -> JSONDict:
        """The dialled child leg picks up: ringing -> in-progress, with its ``answered`` callback."""
        with self._lock:
            call = self._simulated(call_sid)
            if cast(_Leg, call.leg).parent_sid is None:
                raise ValueError(f"call {call_sid} is a parent leg; only the dialled child leg is answered")
            if call.status != "ringing":
                raise ValueError(f"call {call_sid} is {call.status}, not ringing")
            to_send = self._transition(call, "in-progress", "answered")
            answered = call.as_dict()
        self._deliver(to_send)
        return answered

    def hang_up(self, call_sid: str, status: str = "completed") -> JSONDict:
        """End the named leg with ``status``; the call's other leg ends too, child first, then parent.

        Returns ``{"parent": call, "child": call}`` as they are afterwards.
        """
        final = _check_final_status(status)
        with self._lock:
            call = self._simulated(call_sid)
            if call.status in _FINAL_STATUSES:
                raise ValueError(f"call {call_sid} has already ended ({call.status})")
            leg = cast(_Leg, call.leg)
            if leg.parent_sid is None:
                parent_sid, child_sid, parent_status = call.sid, cast(str, leg.child_sid), final
                child = self._calls.get(child_sid)
                # Twilio cancels a dialled leg that was still ringing when the caller hung up.
                child_status = "completed" if child is not None and child.status == "in-progress" else "canceled"
            else:
                parent_sid, child_sid = leg.parent_sid, call.sid
                child_status, parent_status = final, "completed"
        self._deliver(self._step(child_sid, child_status, "completed"))
        self._deliver(self._step(parent_sid, parent_status, "completed"))
        with self._lock:
            legs = {"parent": self._calls.get(parent_sid), "child": self._calls.get(child_sid)}
            return {name: leg_call.as_dict() for name, leg_call in legs.items() if leg_call is not None}

    def callbacks(self) -> list[JSONDict]:
        with self._lock:
            return [record.as_dict() for record in self._callbacks]

    def replay_callback(self, index: int) -> JSONDict:
        """Send a recorded callback again, byte for byte (held instead while callbacks are held)."""
        with self._lock:
            original = self._callback_at(index)
            record = _Callback(
                index=len(self._callbacks),
                url=original.url,
                params=dict(original.params),
                signature=original.signature,
                held=self._holding,
            )
            self._callbacks.append(record)
        self._deliver([] if record.held else [record])
        with self._lock:
            return record.as_dict()

    def hold_callbacks(self, hold: bool = True) -> None:
        """While held, new callbacks are recorded but not sent; release_callbacks() sends them."""
        if not isinstance(hold, bool):
            raise ValueError("'hold' must be a boolean")
        with self._lock:
            self._holding = hold

    def release_callbacks(self, order: Sequence[int] | None = None) -> list[JSONDict]:
        """Send held callbacks: those named by index in ``order`` (in that order), else all, oldest first."""
        with self._lock:
            if order is None:
                chosen = [record for record in self._callbacks if record.held]
            else:
                if isinstance(order, str | bytes) or not isinstance(order, Sequence) or not all(map(_is_int, order)):
                    raise ValueError("'order' must be a list of callback indexes")
                if len(set(order)) != len(order):
                    raise ValueError("'order' names a callback more than once")
                chosen = [self._callback_at(index) for index in order]
                not_held = [record.index for record in chosen if not record.held]
                if not_held:
                    raise ValueError(f"callbacks {not_held} are not held")
            # Claimed under the lock so a concurrent release can't send the same callback twice.
            for record in chosen:
                record.held = False
        self._deliver(chosen)
        with self._lock:
            return [record.as_dict() for record in chosen]

    def _place(self, account_sid: str, parent: _Leg, child: _Leg) -> JSONDict:
        with self._lock:
            parent_sid, child_sid = self._new_call_sid(), self._new_call_sid()
            parent.child_sid, child.parent_sid = child_sid, parent_sid
            # The parent is answered by the app's TwiML from the start; its duration counts from now.
            parent.answered_at = time.monotonic()
            self._calls[parent_sid] = _Call(parent_sid, account_sid, "in-progress", parent)
            self._calls[child_sid] = _Call(child_sid, account_sid, "queued", child)
        self._deliver(self._step(child_sid, "initiated", "initiated"))
        self._deliver(self._step(child_sid, "ringing", "ringing"))
        return {"parent": parent_sid, "child": child_sid}

    def _owner(self, account_sid: str | None) -> str:
        owner = self._accounts[0].account_sid if account_sid is None else account_sid
        if owner not in {account.account_sid for account in self._accounts}:
            raise ValueError(f"unknown account_sid {owner!r}")
        return owner

    def _new_call_sid(self) -> str:
        while True:
            sid = "CA" + secrets.token_hex(16)
            if sid not in self._calls:
                return sid

    def _simulated(self, call_sid: str) -> _Call:
        call = self._calls.get(call_sid)
        if call is None:
            raise KeyError(f"unknown call {call_sid}")
        if call.leg is None:
            raise ValueError(f"call {call_sid} is not a simulated Voice SDK call")
        return call

    def _callback_at(self, index: object) -> _Callback:
        if not _is_int(index):
            raise ValueError(f"a callback index must be an integer, got {index!r}")
        position = cast(int, index)
        # No negative indexing: -1 is not a callback anyone was told about.
        if not 0 <= position < len(self._callbacks):
            raise KeyError(f"unknown callback {index}")
        return self._callbacks[position]

    def _step(self, call_sid: str, status: str, event: str) -> list[_Callback]:
        """Move a live leg to ``status`` unless it already ended (or was reset away) meanwhile."""
        with self._lock:
            call = self._calls.get(call_sid)
            if call is None or call.leg is None or call.status in _FINAL_STATUSES:
                return []
            return self._transition(call, status, event)

    def _transition(self, call: _Call, status: str, event: str) -> list[_Callback]:
        """Under the lock: set the status and record the leg's callback; returns it if it is to be sent now."""
        leg = cast(_Leg, call.leg)
        now = time.monotonic()
        call.status = status
        if event == "answered":
            leg.answered_at = now
        if leg.callback_url is None or event not in leg.events:
            return []
        params = {
            "AccountSid": call.account_sid,
            "ApiVersion": "2010-04-01",
            "CallSid": call.sid,
            "CallStatus": _EVENT_STATUS.get(event, status),
            "Called": leg.to,
            "Caller": leg.from_,
            "Direction": leg.direction,
            "From": leg.from_,
            "To": leg.to,
        }
        if leg.parent_sid is not None:
            params["ParentCallSid"] = leg.parent_sid
        if event == "completed":
            params["CallDuration"] = str(int(now - leg.answered_at) if leg.answered_at is not None else 0)
        params["Timestamp"] = _rfc2822_now()
        if leg.progress_events:
            params["SequenceNumber"] = str(leg.sequence)
            params["CallbackSource"] = "call-progress-events"
            leg.sequence += 1
        token = next(account.auth_token for account in self._accounts if account.account_sid == call.account_sid)
        signature = str(RequestValidator(token).compute_signature(leg.callback_url, params))
        record = _Callback(len(self._callbacks), leg.callback_url, params, signature, held=self._holding)
        self._callbacks.append(record)
        return [] if record.held else [record]

    def _deliver(self, records: Iterable[_Callback]) -> None:
        for record in records:
            status_code, error = self._post_callback(record)
            with self._lock:
                record.status_code, record.error = status_code, error

    def _post_callback(self, record: _Callback) -> tuple[int | None, str | None]:
        # http.client rather than urllib: header names go out as Twilio spells them, no proxy from the
        # environment intercepts a loopback receiver, and a 3xx is recorded rather than followed.
        parts = urllib.parse.urlsplit(record.url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        connection = connection_class(cast(str, parts.hostname), parts.port, timeout=_CALLBACK_TIMEOUT_SECONDS)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "TwilioProxy/1.1",
            "X-Twilio-Signature": record.signature,
        }
        try:
            connection.request("POST", target, body=urllib.parse.urlencode(record.params), headers=headers)
            response = connection.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException, ValueError) as exc:
            # Twilio logs a failed webhook and carries on; so does the emulator.
            logger.debug("status callback %d to %s failed", record.index, record.url, exc_info=True)
            return None, f"{type(exc).__name__}: {exc}"
        finally:
            connection.close()
        logger.debug("status callback %d to %s answered %d", record.index, record.url, status)
        return status, None

    # -- internals used by the request handler ---------------------------------------------------------

    @staticmethod
    def _zero_stats() -> dict[str, int]:
        return {"udm_requests": 0, "udm_created": 0, "udm_replayed": 0, "faults_injected": 0}

    def _track(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.add(conn)

    def _untrack(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.discard(conn)

    def _begin_udm_request(self) -> _Fault | None:
        """Count a UDM POST and consume the fault (if any) that applies to it."""
        with self._lock:
            self._stats["udm_requests"] += 1
            if not self._faults:
                return None
            fault = self._faults[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                self._faults.popleft()
            self._stats["faults_injected"] += 1
            return fault

    def _authenticate(self, authorization: str | None) -> Account | None:
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
        for account in self._accounts:
            pairs = [(account.account_sid, account.auth_token)]
            if account.api_key_sid is not None and account.api_key_secret is not None:
                pairs.append((account.api_key_sid, account.api_key_secret))
            for expected_user, expected_password in pairs:
                # Evaluate both comparisons so timing doesn't reveal which half matched.
                user_ok = secrets.compare_digest(username, expected_user.encode("utf-8"))
                password_ok = secrets.compare_digest(password, expected_password.encode("utf-8"))
                if user_ok and password_ok:
                    return account
        return None

    def _process_udm(
        self, path: str, account_sid: str, call_sid: str, authorization: str | None, body: bytes
    ) -> _Reply:
        if not _ACCOUNT_SID_RE.fullmatch(account_sid) or not _CALL_SID_RE.fullmatch(call_sid):
            return _twilio_not_found(path)
        account = self._authenticate(authorization)
        if account is None or account.account_sid != account_sid:
            return _twilio_error(401, 20003, "Authenticate", {"WWW-Authenticate": 'Basic realm="Twilio API"'})
        try:
            form = urllib.parse.parse_qs(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            return _twilio_error(400, 20001, "Request body must be UTF-8 encoded form data")
        content = (form.get("Content") or [""])[0]
        idempotency_key = (form.get("IdempotencyKey") or [""])[0] or None

        # Everything from the call lookup to recording runs under the lock so concurrent retries that
        # share an IdempotencyKey can never both create a message.
        with self._lock:
            call = self._calls.get(call_sid)
            if call is None or call.account_sid != account_sid:
                return _twilio_not_found(path)
            replay_key = (account_sid, call_sid, idempotency_key) if idempotency_key else None
            if replay_key is not None and replay_key in self._idempotency:
                self._stats["udm_replayed"] += 1
                return _json_reply(201, self._idempotency[replay_key])
            if not content:
                return _twilio_error(400, 20001, "Missing required parameter Content in the post body")
            if len(content.encode("utf-8")) > _MAX_CONTENT_BYTES:
                return _twilio_error(400, 32703, "Content body exceeded max length")
            if not _is_json(content):
                return _twilio_error(400, 20001, "Content must be a valid JSON string")
            if call.status not in _UDM_ACCEPTING_STATUSES:
                return _twilio_error(400, 21220, _NOT_IN_PROGRESS_MESSAGE)
            resource: JSONDict = {
                "account_sid": account_sid,
                "call_sid": call_sid,
                "sid": "KX" + secrets.token_hex(16),
                "date_created": _rfc2822_now(),
            }
            self._messages.append(
                {
                    "sid": resource["sid"],
                    "account_sid": account_sid,
                    "call_sid": call_sid,
                    "content": content,
                    "idempotency_key": idempotency_key,
                    "date_created": resource["date_created"],
                }
            )
            if replay_key is not None:
                self._idempotency[replay_key] = dict(resource)
            self._stats["udm_created"] += 1
            return _json_reply(201, resource)

    def _control(self, method: str, path: str, body: bytes) -> _Reply:
        try:
            payload: object = json.loads(body) if body.strip() else None
        except ValueError:
            return _json_reply(400, {"error": "request body must be JSON"})
        try:
            return self._control_route(method, path, payload)
        except ValueError as exc:
            return _json_reply(400, {"error": str(exc)})
        except KeyError as exc:
            return _json_reply(404, {"error": str(exc.args[0]) if exc.args else "not found"})

    def _control_route(self, method: str, path: str, payload: object) -> _Reply:
        routes: dict[str, dict[str, Callable[[], _Reply]]] = {
            "/_emulator/health": {"GET": lambda: _json_reply(200, {"ok": True})},
            "/_emulator/calls": {
                "GET": lambda: _json_reply(200, self.calls()),
                "POST": lambda: _json_reply(201, self._create_call_from(payload)),
            },
            "/_emulator/messages": {"GET": lambda: _json_reply(200, self.messages())},
            "/_emulator/stats": {"GET": lambda: _json_reply(200, self.stats())},
            "/_emulator/faults": {
                "GET": lambda: _json_reply(200, self.faults()),
                "POST": lambda: self._add_faults_from(payload),
                "DELETE": lambda: self._no_content(self.clear_faults),
            },
            "/_emulator/reset": {"POST": lambda: self._no_content(self.reset)},
            "/_emulator/calls/inbound": {"POST": lambda: _json_reply(201, self._place_inbound_from(payload))},
            "/_emulator/calls/outbound": {"POST": lambda: _json_reply(201, self._place_outbound_from(payload))},
            "/_emulator/callbacks": {"GET": lambda: _json_reply(200, self.callbacks())},
            "/_emulator/callbacks/hold": {"POST": lambda: self._no_content(lambda: self._hold_from(payload))},
            "/_emulator/callbacks/release": {"POST": lambda: _json_reply(200, self._release_from(payload))},
        }
        handlers = routes.get(path)
        match = _CALL_CONTROL_PATH_RE.fullmatch(path)
        action = _CALL_ACTION_PATH_RE.fullmatch(path)
        replay = _CALLBACK_REPLAY_PATH_RE.fullmatch(path)
        if handlers is None and match is not None:
            call_sid = urllib.parse.unquote(match.group(1))
            handlers = {
                "GET": lambda: _json_reply(200, self._get_call(call_sid)),
                "POST": lambda: _json_reply(200, self.set_call_status(call_sid, self._status_from(payload))),
            }
        elif handlers is None and action is not None:
            leg_sid = urllib.parse.unquote(action.group(1))
            if action.group(2) == "answer":
                handlers = {"POST": lambda: _json_reply(200, self.answer(leg_sid))}
            else:
                handlers = {"POST": lambda: _json_reply(200, self._hang_up_from(leg_sid, payload))}
        elif handlers is None and replay is not None:
            raw_index = urllib.parse.unquote(replay.group(1))
            handlers = {"POST": lambda: _json_reply(200, self.replay_callback(self._index_from(raw_index)))}
        if handlers is None:
            return _json_reply(404, {"error": f"no control endpoint {path}"})
        handler = handlers.get(method)
        if handler is None:
            allow = {"Allow": ", ".join(handlers)}
            return _json_reply(405, {"error": f"{method} not allowed on {path}"}, allow)
        return handler()

    def _no_content(self, action: Callable[[], None]) -> _Reply:
        action()
        return _Reply(204)

    def _get_call(self, call_sid: str) -> JSONDict:
        with self._lock:
            call = self._calls.get(call_sid)
            if call is None:
                raise KeyError(f"unknown call {call_sid}")
            return call.as_dict()

    def _create_call_from(self, payload: object) -> JSONDict:
        data = self._object_from(payload)
        account_sid = data.get("account_sid")
        status = data.get("status", "in-progress")
        sid = data.get("sid")
        if account_sid is not None and not isinstance(account_sid, str):
            raise ValueError("'account_sid' must be a string")
        if sid is not None and not isinstance(sid, str):
            raise ValueError("'sid' must be a string")
        return self.create_call(account_sid, _check_status(status), sid)

    def _status_from(self, payload: object) -> str:
        return _check_status(self._object_from(payload).get("status"))

    def _place_inbound_from(self, payload: object) -> JSONDict:
        data = self._place_fields(payload, {"caller"})
        extra = {"caller": data["caller"]} if "caller" in data else {}
        return self.place_inbound(
            data.get("identity", ""),
            data.get("status_callback", ""),
            account_sid=data.get("account_sid"),
            events=data.get("events", _CALLBACK_EVENTS),
            **extra,
        )

    def _place_outbound_from(self, payload: object) -> JSONDict:
        data = self._place_fields(payload, {"app_status_callback", "to"})
        extra = {"to": data["to"]} if "to" in data else {}
        return self.place_outbound(
            data.get("identity", ""),
            data.get("status_callback", ""),
            data.get("app_status_callback"),
            account_sid=data.get("account_sid"),
            events=data.get("events", _CALLBACK_EVENTS),
            **extra,
        )

    def _place_fields(self, payload: object, extra_keys: set[str]) -> Mapping[str, Any]:
        data = self._object_from(payload)
        # A misspelt key (statusCallback) would otherwise silently place a call without callbacks.
        unknown = set(data) - _PLACE_KEYS - extra_keys
        if unknown:
            raise ValueError(f"unknown keys: {sorted(unknown)}")
        account_sid = data.get("account_sid")
        if account_sid is not None and not isinstance(account_sid, str):
            raise ValueError("'account_sid' must be a string")
        return data

    def _hang_up_from(self, call_sid: str, payload: object) -> JSONDict:
        return self.hang_up(call_sid, self._object_from(payload).get("status", "completed"))

    def _hold_from(self, payload: object) -> None:
        self.hold_callbacks(self._object_from(payload).get("hold", True))

    def _release_from(self, payload: object) -> list[JSONDict]:
        order = self._object_from(payload).get("order")
        if order is not None and not isinstance(order, list):
            raise ValueError("'order' must be a list of callback indexes")
        return self.release_callbacks(order)

    @staticmethod
    def _index_from(raw: str) -> int:
        if not raw.isdecimal():
            raise KeyError(f"unknown callback {raw}")
        return int(raw)

    def _add_faults_from(self, payload: object) -> _Reply:
        if not isinstance(payload, dict | list):
            raise ValueError("body must be a fault object or a list of fault objects")
        self.add_fault(cast(Mapping[str, Any] | list[Mapping[str, Any]], payload))
        return _Reply(204)

    @staticmethod
    def _object_from(payload: object) -> Mapping[str, Any]:
        if payload is None:
            return {}
        if not isinstance(payload, dict):
            raise ValueError("body must be a JSON object")
        return cast(Mapping[str, Any], payload)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], emulator: TwilioEmulator) -> None:
        self.emulator = emulator
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The default prints a traceback to stderr; clients vanishing mid-request is routine here.
        logger.debug("error while handling request from %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 so the twilio client's pooled requests.Session can keep connections alive.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without this each answer waits on a delayed ACK.
    disable_nagle_algorithm = True
    server_version = "TwilioEmulator/1.0"
    sys_version = ""
    timeout = _IDLE_TIMEOUT_SECONDS

    @property
    def _emulator(self) -> TwilioEmulator:
        return cast(_Server, self.server).emulator

    def setup(self) -> None:
        super().setup()
        self._emulator._track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self._emulator._untrack(self.connection)

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
                self._send(_twilio_error(500, 20500, "Internal Server Error"))

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
            if path.startswith("/_emulator/"):
                self._send(_json_reply(exc.status, {"error": exc.message}))
            else:
                self._send(_twilio_error(exc.status, 20001, exc.message))
            return
        if path.startswith("/_emulator/"):
            self._send(self._emulator._control(method, path, body))
        elif udm is not None:
            self._send(_twilio_error(405, 20004, "Method not allowed", {"Allow": "POST"}))
        else:
            self._send(_twilio_not_found(path))

    def _udm_post(self, path: str, account_sid: str, call_sid: str) -> None:
        fault = self._emulator._begin_udm_request()
        try:
            body = self._read_body()
        except _BodyError as exc:
            self.close_connection = True
            self._send(_twilio_error(exc.status, 20001, exc.message))
            return
        if fault is not None and fault.latency_ms:
            time.sleep(fault.latency_ms / 1000.0)
        if fault is not None and fault.status is not None:
            self._send(_fault_reply(fault))
            return
        if fault is not None and fault.drop == "before":
            self._drop()
            return
        authorization = self.headers.get("Authorization")
        reply = self._emulator._process_udm(path, account_sid, call_sid, authorization, body)
        if fault is not None and fault.drop == "after":
            self._drop()
            return
        self._send(reply)

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

    def _send(self, reply: _Reply) -> None:
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


class EmulatorControl:
    """A tiny HTTP client for the control API (urllib only), for processes that don't hold the emulator.

    Errors mirror the in-process helpers: 400 raises ValueError, 404 raises KeyError.
    """

    def __init__(self, base_url: str, timeout: float = 5.0) -> None:
        parts = urllib.parse.urlsplit(base_url)
        # The emulator only speaks plain HTTP; refusing other schemes also keeps file: URLs out of urlopen.
        if parts.scheme != "http" or not parts.netloc:
            raise ValueError(f"base_url must be an http:// URL, got {base_url!r}")
        self._netloc = parts.netloc
        self._prefix = parts.path.rstrip("/") + "/_emulator"
        self._timeout = timeout
        # The emulator is local; an inherited HTTP(S)_PROXY must not intercept control traffic.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def health(self) -> bool:
        return bool(self._request("GET", "/health").get("ok"))

    def create_call(
        self, account_sid: str | None = None, status: str = "in-progress", sid: str | None = None
    ) -> JSONDict:
        payload: JSONDict = {"status": status}
        if account_sid is not None:
            payload["account_sid"] = account_sid
        if sid is not None:
            payload["sid"] = sid
        return cast(JSONDict, self._request("POST", "/calls", payload))

    def set_call_status(self, call_sid: str, status: str) -> JSONDict:
        path = "/calls/" + urllib.parse.quote(call_sid, safe="")
        return cast(JSONDict, self._request("POST", path, {"status": status}))

    def calls(self) -> list[JSONDict]:
        return cast(list[JSONDict], self._request("GET", "/calls"))

    def messages(self) -> list[JSONDict]:
        return cast(list[JSONDict], self._request("GET", "/messages"))

    def stats(self) -> dict[str, int]:
        return cast(dict[str, int], self._request("GET", "/stats"))

    def add_fault(self, fault: Mapping[str, Any] | Iterable[Mapping[str, Any]]) -> None:
        payload = dict(fault) if isinstance(fault, Mapping) else [dict(item) for item in fault]
        self._request("POST", "/faults", payload)

    def faults(self) -> list[JSONDict]:
        return cast(list[JSONDict], self._request("GET", "/faults"))

    def clear_faults(self) -> None:
        self._request("DELETE", "/faults")

    def reset(self) -> None:
        self._request("POST", "/reset")

    def place_inbound(
        self,
        identity: str,
        status_callback: str,
        *,
        account_sid: str | None = None,
        caller: str = _DEFAULT_CALLER,
        events: Iterable[str] = _CALLBACK_EVENTS,
    ) -> JSONDict:
        payload: JSONDict = {
            "identity": identity,
            "status_callback": status_callback,
            "caller": caller,
            "events": self._events(events),
        }
        if account_sid is not None:
            payload["account_sid"] = account_sid
        return cast(JSONDict, self._callback_request("POST", "/calls/inbound", payload))

    def place_outbound(
        self,
        identity: str,
        status_callback: str,
        app_status_callback: str | None = None,
        *,
        account_sid: str | None = None,
        to: str = _DEFAULT_DIALLED,
        events: Iterable[str] = _CALLBACK_EVENTS,
    ) -> JSONDict:
        payload: JSONDict = {
            "identity": identity,
            "status_callback": status_callback,
            "to": to,
            "events": self._events(events),
        }
        if app_status_callback is not None:
            payload["app_status_callback"] = app_status_callback
        if account_sid is not None:
            payload["account_sid"] = account_sid
        return cast(JSONDict, self._callback_request("POST", "/calls/outbound", payload))

    def answer(self, call_sid: str) -> JSONDict:
        path = "/calls/" + urllib.parse.quote(call_sid, safe="") + "/answer"
        return cast(JSONDict, self._callback_request("POST", path))

    def hang_up(self, call_sid: str, status: str = "completed") -> JSONDict:
        path = "/calls/" + urllib.parse.quote(call_sid, safe="") + "/hangup"
        return cast(JSONDict, self._callback_request("POST", path, {"status": status}))

    def callbacks(self) -> list[JSONDict]:
        return cast(list[JSONDict], self._request("GET", "/callbacks"))

    def replay_callback(self, index: int) -> JSONDict:
        return cast(JSONDict, self._callback_request("POST", f"/callbacks/{int(index)}/replay"))

    def hold_callbacks(self, hold: bool = True) -> None:
        self._request("POST", "/callbacks/hold", {"hold": hold})

    def release_callbacks(self, order: Sequence[int] | None = None) -> list[JSONDict]:
        payload: JSONDict = {} if order is None else {"order": list(order)}
        return cast(list[JSONDict], self._callback_request("POST", "/callbacks/release", payload))

    @staticmethod
    def _events(events: Iterable[str]) -> list[str]:
        return events.split() if isinstance(events, str) else list(events)

    def _callback_request(self, method: str, path: str, payload: object = None) -> Any:
        return self._request(method, path, payload, timeout=max(self._timeout, _CALLBACK_CONTROL_TIMEOUT_SECONDS))

    def _request(self, method: str, path: str, payload: object = None, timeout: float | None = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode("utf-8")
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        url = f"http://{self._netloc}{self._prefix}{path}"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with self._opener.open(request, timeout=self._timeout if timeout is None else timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            with exc:
                detail = self._error_detail(exc.read(), exc.code)
            if exc.code == 404:
                raise KeyError(detail) from None
            if exc.code == 400:
                raise ValueError(detail) from None
            raise RuntimeError(f"{method} {path} failed with HTTP {exc.code}: {detail}") from exc
        return json.loads(raw) if raw else None

    @staticmethod
    def _error_detail(raw: bytes, status: int) -> str:
        try:
            body = json.loads(raw)
        except ValueError:
            return raw.decode("utf-8", "replace") or f"HTTP {status}"
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            return cast(str, body["error"])
        return str(body)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local.twilio_emulator",
        description="Serve a local emulator of Twilio's Call User Defined Messages API until interrupted.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=4010, help="0 picks a free port (default: 4010)")
    parser.add_argument(
        "--account-sid", default=os.environ.get("TWILIO_ACCOUNT_SID"), help="default: $TWILIO_ACCOUNT_SID"
    )
    parser.add_argument(
        "--auth-token",
        default=os.environ.get("TWILIO_AUTH_TOKEN"),
        help="default: $TWILIO_AUTH_TOKEN",
    )
    parser.add_argument("--api-key-sid", default=None)
    parser.add_argument("--api-key-secret", default=None)
    parser.add_argument("--verbose", action="store_true", help="log every request at DEBUG level")
    args = parser.parse_args(argv)
    if not args.account_sid or not args.auth_token:
        parser.error("--account-sid and --auth-token are required (or TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN)")
    try:
        account = Account(args.account_sid, args.auth_token, args.api_key_sid, args.api_key_secret)
    except ValueError as exc:
        parser.error(str(exc))

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    stopping = threading.Event()

    def _request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, _request_stop)
    signal.signal(signal.SIGTERM, _request_stop)
    emulator = TwilioEmulator([account], host=args.host, port=args.port).start()
    logger.info("Twilio emulator listening on %s for account %s", emulator.base_url, account.account_sid)
    try:
        # A timed wait keeps the main thread responsive to signals on every platform.
        while not stopping.wait(0.5):
            pass
    finally:
        emulator.stop()
        logger.info("Twilio emulator stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
