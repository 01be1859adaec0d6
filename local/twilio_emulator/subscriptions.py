"""UserDefinedMessageSubscriptions, and messages the Voice SDK user sends (`call.sendMessage`).

Twilio's REST API has create (POST .../Calls/{CallSid}/UserDefinedMessageSubscriptions.json with
Callback, Method, IdempotencyKey) and delete (.../UserDefinedMessageSubscriptions/{Sid}.json); the
control API lists them. A subscription is made only while the call is ringing or in progress (the
rule the emulator applies to UDMs; Twilio only says "an active call"), else error 21220. The same
IdempotencyKey on the same call returns the first subscription.

A message the SDK user sends goes to every subscription of the call: CallSid, Sid (KX…), ContentType,
Content and SequenceNumber (from 1), as Twilio's own SDK integration test receives them, form-encoded
and signed like status callbacks, or as JSON with bodySHA256 in the signed URL.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import secrets
import threading
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from twilio.request_validator import RequestValidator

from local.twilio_emulator.wire import JSONDict, Reply, json_reply, rfc2822_now, twilio_error, twilio_not_found

logger = logging.getLogger(__name__)

_ACTIVE = frozenset({"ringing", "in-progress"})
_TIMEOUT_SECONDS = 10.0


class Signer(Protocol):
    """An account as far as signing goes (the model's Account is one)."""

    @property
    def account_sid(self) -> str: ...

    @property
    def auth_token(self) -> str: ...


class CallBook(Protocol):
    """What subscriptions need of the emulator's model: its calls and the accounts that sign for them.

    Described here rather than imported, so that the model imports this module and not the reverse.
    """

    @property
    def accounts(self) -> Sequence[Signer]: ...

    def get_call(self, call_sid: str) -> JSONDict: ...


@dataclass
class Subscription:
    sid: str
    account_sid: str
    call_sid: str
    callback: str
    method: str
    idempotency_key: str | None
    date_created: str

    def resource(self) -> JSONDict:
        return {
            "account_sid": self.account_sid,
            "call_sid": self.call_sid,
            "sid": self.sid,
            "date_created": self.date_created,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Calls/{self.call_sid}"
            f"/UserDefinedMessageSubscriptions/{self.sid}.json",
        }


@dataclass
class Subscriptions:
    """Every live subscription, by SID; the emulator model owns one."""

    _lock: threading.Lock = field(default_factory=threading.Lock)
    _by_sid: dict[str, Subscription] = field(default_factory=dict)
    _sequence: dict[str, int] = field(default_factory=dict)
    sent: list[JSONDict] = field(default_factory=list)

    def every(self, call_sid: str | None = None) -> list[JSONDict]:
        with self._lock:
            found = [s for s in self._by_sid.values() if call_sid is None or s.call_sid == call_sid]
            return [{**s.resource(), "callback": s.callback, "idempotency_key": s.idempotency_key} for s in found]

    def messages(self) -> list[JSONDict]:
        with self._lock:
            return [dict(message) for message in self.sent]

    def clear(self) -> None:
        with self._lock:
            self._by_sid.clear()
            self._sequence.clear()
            self.sent.clear()

    def create(self, model: CallBook, account_sid: str, call_sid: str, form: dict[str, list[str]]) -> Reply:
        callback = (form.get("Callback") or [""])[0]
        method = (form.get("Method") or ["POST"])[0].upper()
        key = (form.get("IdempotencyKey") or [""])[0] or None
        if not callback:
            return twilio_error(400, 21201, "Missing required parameter Callback in the post body")
        parts = urllib.parse.urlsplit(callback)
        if parts.scheme not in ("http", "https") or not parts.hostname or "_" in parts.hostname:
            return twilio_error(400, 21205, "Callback is not a valid URL")
        if method not in ("GET", "POST"):
            return twilio_error(400, 21209, "Method must be GET or POST")
        try:
            call = model.get_call(call_sid)
        except KeyError:
            return twilio_not_found(f"/2010-04-01/Accounts/{account_sid}/Calls/{call_sid}")
        if call["account_sid"] != account_sid:
            return twilio_not_found(f"/2010-04-01/Accounts/{account_sid}/Calls/{call_sid}")
        with self._lock:
            if key is not None:
                for existing in self._by_sid.values():
                    if (existing.account_sid, existing.call_sid, existing.idempotency_key) == (
                        account_sid,
                        call_sid,
                        key,
                    ):
                        return json_reply(201, existing.resource())
            if call["status"] not in _ACTIVE:
                return twilio_error(400, 21220, "Call is not in-progress or ringing. Cannot create subscription")
            subscription = Subscription(
                sid="ZY" + secrets.token_hex(16),
                account_sid=account_sid,
                call_sid=call_sid,
                callback=callback,
                method=method,
                idempotency_key=key,
                date_created=rfc2822_now(),
            )
            self._by_sid[subscription.sid] = subscription
            return json_reply(201, subscription.resource())

    def delete(self, account_sid: str, call_sid: str, sid: str, path: str) -> Reply:
        with self._lock:
            found = self._by_sid.get(sid)
            if found is None or (found.account_sid, found.call_sid) != (account_sid, call_sid):
                return twilio_not_found(path)
            del self._by_sid[sid]
        return Reply(204)

    def send(self, model: CallBook, call_sid: str, content: Any, content_type: str, encoding: str) -> JSONDict:
        """The SDK user's `call.sendMessage`: to every subscription of the call, signed as Twilio signs."""
        if encoding not in ("form", "json"):
            raise ValueError("'encoding' must be form or json")
        call = model.get_call(call_sid)
        if call["status"] not in _ACTIVE:
            raise ValueError(f"call {call_sid} is {call['status']}; messages are sent only on an active call")
        text = content if isinstance(content, str) else json.dumps(content, separators=(",", ":"))
        token = next(a.auth_token for a in model.accounts if a.account_sid == call["account_sid"])
        with self._lock:
            targets = [s for s in self._by_sid.values() if s.call_sid == call_sid]
            sequence = self._sequence.get(call_sid, 0) + 1
            self._sequence[call_sid] = sequence
        params = {
            "AccountSid": call["account_sid"],
            "CallSid": call_sid,
            "Sid": "KX" + secrets.token_hex(16),
            "ContentType": content_type,
            "Content": text,
            "SequenceNumber": str(sequence),
        }
        deliveries = [_post(subscription, params, token, encoding) for subscription in targets]
        sent = {"sid": params["Sid"], "call_sid": call_sid, "params": params, "deliveries": deliveries}
        with self._lock:
            self.sent.append(sent)
        return sent


def _post(subscription: Subscription, params: dict[str, str], token: str, encoding: str) -> JSONDict:
    url = subscription.callback
    headers = {"User-Agent": "TwilioProxy/1.1"}
    body: bytes | None
    if subscription.method == "GET":
        # A GET subscription gets the fields in the query, which the signature then covers.
        url += ("&" if urllib.parse.urlsplit(url).query else "?") + urllib.parse.urlencode(params)
        body = None
        headers["X-Twilio-Signature"] = str(RequestValidator(token).compute_signature(url, {}))
    elif encoding == "json":
        body = json.dumps(params).encode("utf-8")
        digest = hashlib.sha256(body).hexdigest()
        url += ("&" if urllib.parse.urlsplit(url).query else "?") + "bodySHA256=" + digest
        headers["Content-Type"] = "application/json"
        headers["X-Twilio-Signature"] = str(RequestValidator(token).compute_signature(url, {}))
    else:
        body = urllib.parse.urlencode(params).encode("utf-8")
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        headers["X-Twilio-Signature"] = str(RequestValidator(token).compute_signature(url, params))
    parts = urllib.parse.urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(cast(str, parts.hostname), parts.port, timeout=_TIMEOUT_SECONDS)
    try:
        connection.request(subscription.method, target, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return {"url": url, "status_code": response.status, "error": None}
    except (OSError, http.client.HTTPException, ValueError) as exc:
        logger.debug("message callback to %s failed", url, exc_info=True)
        return {"url": url, "status_code": None, "error": f"{type(exc).__name__}: {exc}"}
    finally:
        connection.close()
