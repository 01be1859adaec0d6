"""Twilio status callbacks keep the call registry current.

Each callback is verified (twilio's RequestValidator, behind a port), mapped to the Voice SDK leg and the
recipient key it belongs to, and applied to the registry: calls that start are added, calls that
end are removed, and nothing else is touched.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from bridge.errors import InvalidCallback, InvalidTwilioSignature
from bridge.limits import check_size
from bridge.model import CALL_SID, MAX_KEY_CHARS, is_plain_text, signed_url

if TYPE_CHECKING:
    from bridge.model import Change, HttpRequest
    from bridge.ports import CallbackSignatures, CallRegistry

STARTING = frozenset({"initiated", "ringing", "in-progress", "answered"})
ENDING = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
CLIENT_PREFIX = "client:"
IDENTITY_PREFIX = "identity:"


class FormParams(dict[str, list[str]]):
    """Form fields with every value kept; RequestValidator signs them all (Flask's getall)."""

    def getall(self, name: str) -> list[str]:
        return self[name]

    def first(self, name: str) -> str:
        values = self.get(name) or [""]
        return values[0]


@dataclass(frozen=True)
class Target:
    key: str
    call_sid: str


@dataclass(frozen=True)
class Applied:
    """What a callback did: `action` is registered, unregistered or ignored."""

    action: str
    reason: str
    key: str | None = None
    call_sid: str | None = None
    status: str | None = None
    change: Change | None = None


def target(params: FormParams, query: Mapping[str, list[str]]) -> Target | None:
    """Which key and which call a callback is about; None when it concerns no Voice SDK user.

    A key named in the (signed) URL wins; with leg=parent the call is the parent leg, the SDK
    leg of a call the SDK user placed. Otherwise the SDK side is `To` on a child leg (calls the
    user receives) and `From` on a parent leg (calls the user places).
    """
    call_sid = params.first("CallSid")
    parent_sid = params.first("ParentCallSid")
    if "key" in query:
        key = query["key"][0]
        leg = (query.get("leg") or [""])[0]
        sid = parent_sid if leg == "parent" else call_sid
        if not sid:
            return None
    else:
        side = params.first("To") if parent_sid else params.first("From")
        if not side.startswith(CLIENT_PREFIX) or len(side) == len(CLIENT_PREFIX):
            return None
        key, sid = IDENTITY_PREFIX + side[len(CLIENT_PREFIX) :], call_sid
    if not 1 <= len(key) <= MAX_KEY_CHARS or not is_plain_text(key):
        raise InvalidCallback(f"The key must be 1 to {MAX_KEY_CHARS} characters long, without control characters.")
    if not CALL_SID.fullmatch(sid):
        raise InvalidCallback("The callback names no valid Call SID.")
    return Target(key=key, call_sid=sid)


def _timestamp(params: FormParams) -> float | None:
    try:
        return parsedate_to_datetime(params.first("Timestamp")).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


_SEQUENCE = re.compile(r"[0-9]{1,18}")


def _sequence(params: FormParams) -> int | None:
    # ASCII digits only: str.isdigit() also takes "²", which int() refuses.
    raw = params.first("SequenceNumber")
    return int(raw) if _SEQUENCE.fullmatch(raw) else None


class CallStatusService:
    def __init__(
        self,
        *,
        signatures: CallbackSignatures,
        registry: CallRegistry,
        public_base_url: str | None,
        max_call_seconds: int,
    ) -> None:
        self._signatures = signatures
        self._registry = registry
        self._public_base_url = public_base_url
        self._max_call_seconds = max_call_seconds

    def handle(self, request: HttpRequest) -> Applied:
        params = self._verified(request)
        query = parse_qs(request.raw_query, keep_blank_values=True)
        status = params.first("CallStatus")
        found = target(params, query)
        if found is None:
            return Applied("ignored", "no Voice SDK side", status=status, call_sid=params.first("CallSid"))
        if status in ENDING:
            change = self._registry.ended(found.key, found.call_sid)
            action = "unregistered" if change.changed else "ignored"
        elif status in STARTING:
            change = self._registry.started(
                found.key,
                found.call_sid,
                ttl_seconds=self._max_call_seconds,
                started=_timestamp(params),
                leg=params.first("CallSid"),
                seq=_sequence(params),
            )
            action = "registered" if change.changed else "ignored"
        else:
            return Applied("ignored", "unknown status", key=found.key, call_sid=found.call_sid, status=status)
        reason = status if change.changed else "stale or repeated callback"
        return Applied(action, reason, key=found.key, call_sid=found.call_sid, status=status, change=change)

    def _verified(self, request: HttpRequest) -> FormParams:
        signature = request.headers.get("x-twilio-signature", "")
        if not signature:
            raise InvalidTwilioSignature("The X-Twilio-Signature header is required.")
        check_size(request.body)
        try:
            params = FormParams(parse_qs(request.body.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
        except UnicodeDecodeError:
            raise InvalidTwilioSignature("The X-Twilio-Signature does not match.") from None
        settings = request.headers.get("x-twilio-webhooks-signature-settings")
        self._signatures.verify(signed_url(request, self._public_base_url), params, signature, settings)
        return params
