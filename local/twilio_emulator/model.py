"""The emulator's state and Twilio's rules for it, with no HTTP serving.

Accounts and their credentials, calls (bare ones, or the two legs of a simulated Voice SDK call), UDM
acceptance with IdempotencyKey replay, queued faults and counters. Every public method takes the lock
it needs, so the server, the control API and in-process callers can share one model across threads.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from local.twilio_emulator.callbacks import Callback, CallbackLog
from local.twilio_emulator.concurrency import DEFAULT_RETRY_AFTER_SECONDS, AccountConcurrency
from local.twilio_emulator.faults import Fault, parse_faults
from local.twilio_emulator.subscriptions import Subscriptions
from local.twilio_emulator.wire import JSONDict, Reply, is_json, json_reply, rfc2822_now, twilio_error, twilio_not_found

CALL_STATUSES: frozenset[str] = frozenset(
    {"queued", "initiated", "ringing", "in-progress", "completed", "busy", "failed", "no-answer", "canceled"}
)
_UDM_ACCEPTING_STATUSES = frozenset({"ringing", "in-progress"})
_FINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
_NOT_IN_PROGRESS_MESSAGE = "Call is not in-progress or ringing. Cannot send User Defined Message"

_ACCOUNT_SID_RE = re.compile(r"AC[0-9a-fA-F]{32}")
_CALL_SID_RE = re.compile(r"CA[0-9a-fA-F]{32}")
_API_KEY_SID_RE = re.compile(r"SK[0-9a-fA-F]{32}")

_MAX_CONTENT_BYTES = 10240

# Simulated Voice SDK calls: the numbers Twilio would show and the call progress events a leg can report.
_TWILIO_NUMBER = "+15550001111"
# Twilio reports PSTN parties in E.164; a caller who withholds their number as the word itself (since
# 2022: "anonymous", "restricted", ...); Voice SDK and SIP parties as client: and sip: addresses.
_E164_RE = re.compile(r"\+[1-9]\d{6,14}")
_WITHHELD = frozenset({"anonymous", "restricted", "unavailable", "unknown", "blocked", "private"})
_ADDRESS_RE = re.compile(r"(?:client|sip):\S+")
CALLBACK_EVENTS: tuple[str, ...] = ("initiated", "ringing", "answered", "completed")
_EVENT_STATUS = {"initiated": "initiated", "ringing": "ringing", "answered": "in-progress"}


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


def check_status(status: object) -> str:
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


def _check_caller(caller: object) -> str:
    if isinstance(caller, str) and (
        _E164_RE.fullmatch(caller) or caller.lower() in _WITHHELD or _ADDRESS_RE.fullmatch(caller)
    ):
        return caller
    raise ValueError(
        f"'caller' must be an E.164 number (+15551230000), a withheld caller ID ({', '.join(sorted(_WITHHELD))}) "
        f"or a client:/sip: address, got {caller!r}"
    )


def _check_dialled(number: object) -> str:
    if isinstance(number, str) and _E164_RE.fullmatch(number):
        return number
    raise ValueError(f"'to' must be the E.164 number <Dial><Number> dials (+15557654321), got {number!r}")


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
        if event not in CALLBACK_EVENTS:
            raise ValueError(f"invalid status callback event {event!r}; expected some of {list(CALLBACK_EVENTS)}")
    return frozenset(parsed)


def _zero_stats() -> dict[str, int]:
    return {"udm_requests": 0, "udm_created": 0, "udm_replayed": 0, "faults_injected": 0}


class EmulatorModel:
    """Accounts, calls, messages, faults and callbacks of one emulated Twilio, safe to share across threads."""

    def __init__(self, accounts: Iterable[Account]) -> None:
        self._accounts: tuple[Account, ...] = tuple(accounts)
        if not self._accounts:
            raise ValueError("at least one Account is required")
        sids = [account.account_sid for account in self._accounts]
        if len(set(sids)) != len(sids):
            raise ValueError("account SIDs must be unique")
        self._lock = threading.Lock()
        self._calls: dict[str, _Call] = {}
        self._messages: list[JSONDict] = []
        self._idempotency: dict[tuple[str, str, str], JSONDict] = {}
        self._faults: deque[Fault] = deque()
        self._udm_latency_ms = 0.0
        self._stats: dict[str, int] = _zero_stats()
        self._concurrency = AccountConcurrency()
        self._callback_log = CallbackLog()
        self._numbers: set[str] = {_TWILIO_NUMBER}
        self.subscriptions = Subscriptions()

    @property
    def accounts(self) -> tuple[Account, ...]:
        return self._accounts

    # -- calls, messages, faults and counters ---------------------------------------------------------

    def create_call(
        self, account_sid: str | None = None, status: str = "in-progress", sid: str | None = None
    ) -> JSONDict:
        owner = self._owner(account_sid)
        check_status(status)
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

    def get_call(self, call_sid: str) -> JSONDict:
        with self._lock:
            call = self._calls.get(call_sid)
            if call is None:
                raise KeyError(f"unknown call {call_sid}")
            return call.as_dict()

    def set_call_status(self, call_sid: str, status: str) -> JSONDict:
        check_status(status)
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
            stats = dict(self._stats)
        return {**stats, **self._concurrency.counters()}

    def add_fault(self, fault: Mapping[str, Any] | Iterable[Mapping[str, Any]]) -> None:
        """Queue one fault (or several, in order). Invalid input raises ValueError and queues nothing."""
        parsed = parse_faults(fault)
        with self._lock:
            self._faults.extend(parsed)

    def faults(self) -> list[JSONDict]:
        with self._lock:
            return [fault.as_dict() for fault in self._faults]

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def set_udm_latency(self, latency_ms: float) -> None:
        """A standing delay before every UDM answer from now on (a round trip to Twilio), on top of any
        queued fault's ``latency_ms``; 0 turns it off. Invalid input raises ValueError."""
        if isinstance(latency_ms, bool) or not isinstance(latency_ms, int | float) or not 0 <= latency_ms <= 60_000:
            raise ValueError("'udm_ms' must be a number of milliseconds in 0..60000")
        with self._lock:
            self._udm_latency_ms = float(latency_ms)

    def udm_latency(self) -> float:
        with self._lock:
            return self._udm_latency_ms

    # -- the account concurrency limit (concurrency.py) ----------------------------------------------

    def set_concurrency_limit(self, limit: int | None, retry_after: int = DEFAULT_RETRY_AFTER_SECONDS) -> None:
        """At most `limit` REST requests in flight per account from now on (None: no limit); the excess
        is answered 429 (20429) with `Retry-After: retry_after`. Invalid input raises ValueError."""
        self._concurrency.configure(limit, retry_after)

    def concurrency(self) -> JSONDict:
        """The limit, its Retry-After, the requests in flight now, the peak and the 429s it answered."""
        return self._concurrency.as_dict()

    def reset_concurrency_counters(self) -> None:
        """Counts the peak and the 429s afresh from now (a benchmark's measured phase)."""
        self._concurrency.reset_counters()

    def enter_request(self, account_sid: str) -> Reply | None:
        """A REST request arrives: None admits it (`leave_request` when answered), else the 429 to send."""
        return self._concurrency.enter(account_sid)

    def leave_request(self, account_sid: str) -> None:
        self._concurrency.leave(account_sid)

    def reset(self) -> None:
        self._concurrency.reset()
        with self._lock:
            self._calls.clear()
            self._messages.clear()
            self._idempotency.clear()
            self._faults.clear()
            self._udm_latency_ms = 0.0
            self._stats = _zero_stats()
            self._callback_log.clear()
        self.subscriptions.clear()

    # -- simulated Voice SDK calls and their status callbacks -----------------------------------------
    # Call state changes under the lock; callbacks are POSTed after it is released, because the receiver
    # may call back into the emulator (a UDM to the call) while it handles one.

    def place_inbound(
        self,
        identity: str,
        status_callback: str,
        *,
        account_sid: str | None = None,
        caller: str | None = None,
        events: Iterable[str] = CALLBACK_EVENTS,
    ) -> JSONDict:
        """A PSTN caller rings the Twilio number, whose TwiML dials ``<Client>identity</Client>``.

        Both legs are ``From`` the caller: a number of its own for each call unless ``caller`` names
        one (or ``anonymous``). The child leg (to ``client:identity``) reports to ``status_callback``;
        it is left ringing. Returns ``{"parent", "child", "caller"}``.
        """
        _check_text(identity, "identity")
        named = None if caller is None else _check_caller(caller)
        url = _check_callback_url(status_callback, "status_callback")
        wanted = _parse_events(events)
        owner = self._owner(account_sid)
        caller = named or self._new_number()
        parent = _Leg("inbound", caller, _TWILIO_NUMBER, None, None, frozenset())
        child = _Leg("outbound-dial", caller, "client:" + identity, None, url, wanted)
        return {**self._place(owner, parent, child), "caller": caller}

    def place_outbound(
        self,
        identity: str,
        status_callback: str,
        app_status_callback: str | None = None,
        *,
        account_sid: str | None = None,
        to: str | None = None,
        events: Iterable[str] = CALLBACK_EVENTS,
    ) -> JSONDict:
        """``client:identity`` calls ``to`` through a TwiML App, whose TwiML dials ``<Number>to</Number>``.

        ``to`` is a number of its own for each call unless named. The child leg (From the Twilio number,
        To the dialled number) reports to ``status_callback``; the parent (the SDK leg, From
        ``client:identity``, To the number) sends only its ``completed`` to ``app_status_callback``, the
        TwiML App's own status callback URL. The child is left ringing. Returns ``{"parent", "child", "to"}``.
        """
        _check_text(identity, "identity")
        named = None if to is None else _check_dialled(to)
        url = _check_callback_url(status_callback, "status_callback")
        app_url = None
        if app_status_callback is not None:
            app_url = _check_callback_url(app_status_callback, "app_status_callback")
        wanted = _parse_events(events)
        owner = self._owner(account_sid)
        to = named or self._new_number()
        only_completed = frozenset({"completed"})
        parent = _Leg("inbound", "client:" + identity, to, None, app_url, only_completed, progress_events=False)
        child = _Leg("outbound-dial", _TWILIO_NUMBER, to, None, url, wanted)
        return {**self._place(owner, parent, child), "to": to}

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
        self._callback_log.deliver(to_send)
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
        self._callback_log.deliver(self._step(child_sid, child_status, "completed"))
        self._callback_log.deliver(self._step(parent_sid, parent_status, "completed"))
        with self._lock:
            legs = {"parent": self._calls.get(parent_sid), "child": self._calls.get(child_sid)}
            return {name: leg_call.as_dict() for name, leg_call in legs.items() if leg_call is not None}

    def callbacks(self) -> list[JSONDict]:
        return self._callback_log.as_dicts()

    def replay_callback(self, index: int) -> JSONDict:
        """Send a recorded callback again, byte for byte (held instead while callbacks are held)."""
        return self._callback_log.replay(index)

    def hold_callbacks(self, hold: bool = True) -> None:
        """While held, new callbacks are recorded but not sent; release_callbacks() sends them."""
        self._callback_log.hold(hold)

    def release_callbacks(self, order: Sequence[int] | None = None) -> list[JSONDict]:
        """Send held callbacks: those named by index in ``order`` (in that order), else all, oldest first."""
        return self._callback_log.release(order)

    def _place(self, account_sid: str, parent: _Leg, child: _Leg) -> JSONDict:
        with self._lock:
            parent_sid, child_sid = self._new_call_sid(), self._new_call_sid()
            parent.child_sid, child.parent_sid = child_sid, parent_sid
            # The parent is answered by the app's TwiML from the start; its duration counts from now.
            parent.answered_at = time.monotonic()
            self._calls[parent_sid] = _Call(parent_sid, account_sid, "in-progress", parent)
            self._calls[child_sid] = _Call(child_sid, account_sid, "queued", child)
        self._callback_log.deliver(self._step(child_sid, "initiated", "initiated"))
        self._callback_log.deliver(self._step(child_sid, "ringing", "ringing"))
        return {"parent": parent_sid, "child": child_sid}

    def _owner(self, account_sid: str | None) -> str:
        owner = self._accounts[0].account_sid if account_sid is None else account_sid
        if owner not in {account.account_sid for account in self._accounts}:
            raise ValueError(f"unknown account_sid {owner!r}")
        return owner

    def _new_number(self) -> str:
        """A fictional number (+1 555 ...) no other call of this emulator had: calls don't share a caller."""
        with self._lock:
            while True:
                number = f"+1555{secrets.randbelow(10**7):07d}"
                if number not in self._numbers:
                    self._numbers.add(number)
                    return number

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

    def _step(self, call_sid: str, status: str, event: str) -> list[Callback]:
        """Move a live leg to ``status`` unless it already ended (or was reset away) meanwhile."""
        with self._lock:
            call = self._calls.get(call_sid)
            if call is None or call.leg is None or call.status in _FINAL_STATUSES:
                return []
            return self._transition(call, status, event)

    def _transition(self, call: _Call, status: str, event: str) -> list[Callback]:
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
        params["Timestamp"] = rfc2822_now()
        if leg.progress_events:
            params["SequenceNumber"] = str(leg.sequence)
            params["CallbackSource"] = "call-progress-events"
            leg.sequence += 1
        token = next(account.auth_token for account in self._accounts if account.account_sid == call.account_sid)
        return self._callback_log.record(leg.callback_url, params, token)

    # -- the UDM endpoint -------------------------------------------------------------------------------

    def begin_udm_request(self, *, throttled: bool = False) -> Fault | None:
        """Count a UDM POST and consume the fault (if any) that applies to it; one the concurrency
        limit throttled is counted and consumes none."""
        with self._lock:
            self._stats["udm_requests"] += 1
            if throttled or not self._faults:
                return None
            fault = self._faults[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                self._faults.popleft()
            self._stats["faults_injected"] += 1
            return fault

    def account_for(self, username: bytes, password: bytes) -> Account | None:
        """The account whose SID + auth token, or API key SID + secret, these are."""
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

    def accept_udm(
        self, path: str, account_sid: str, call_sid: str, credentials: tuple[bytes, bytes] | None, body: bytes
    ) -> Reply:
        """Twilio's answer to a UDM POST at ``path``, given its Basic credentials and form body."""
        if not _ACCOUNT_SID_RE.fullmatch(account_sid) or not _CALL_SID_RE.fullmatch(call_sid):
            return twilio_not_found(path)
        account = None if credentials is None else self.account_for(*credentials)
        if account is None or account.account_sid != account_sid:
            return twilio_error(401, 20003, "Authenticate", {"WWW-Authenticate": 'Basic realm="Twilio API"'})
        try:
            form = urllib.parse.parse_qs(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            return twilio_error(400, 20001, "Request body must be UTF-8 encoded form data")
        content = (form.get("Content") or [""])[0]
        idempotency_key = (form.get("IdempotencyKey") or [""])[0] or None

        # Everything from the call lookup to recording runs under the lock so concurrent retries that
        # share an IdempotencyKey can never both create a message.
        with self._lock:
            call = self._calls.get(call_sid)
            if call is None or call.account_sid != account_sid:
                return twilio_not_found(path)
            replay_key = (account_sid, call_sid, idempotency_key) if idempotency_key else None
            if replay_key is not None and replay_key in self._idempotency:
                self._stats["udm_replayed"] += 1
                return json_reply(201, self._idempotency[replay_key])
            if not content:
                return twilio_error(400, 20001, "Missing required parameter Content in the post body")
            if len(content.encode("utf-8")) > _MAX_CONTENT_BYTES:
                return twilio_error(400, 32703, "Content body exceeded max length")
            if not is_json(content):
                return twilio_error(400, 20001, "Content must be a valid JSON string")
            if call.status not in _UDM_ACCEPTING_STATUSES:
                return twilio_error(400, 21220, _NOT_IN_PROGRESS_MESSAGE)
            resource: JSONDict = {
                "account_sid": account_sid,
                "call_sid": call_sid,
                "sid": "KX" + secrets.token_hex(16),
                "date_created": rfc2822_now(),
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
            return json_reply(201, resource)
