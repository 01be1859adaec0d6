"""Twilio status callbacks keep the call registry current.

Each callback is verified (X-Twilio-Signature, through the TwilioSignatures port), mapped to the
Voice SDK leg and the recipient key it belongs to, and applied to the registry: calls that start
are added, calls that end are removed, and nothing else is touched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from bridge.domain.calls import CALL_SID
from bridge.domain.errors import InvalidCallback
from bridge.domain.inbound import FormParams, sequence_number, signed_url
from bridge.domain.keys import KEY_RULE, is_recipient_key
from bridge.domain.limits import check_size
from bridge.domain.outcomes import Outcome
from bridge.sources.signatures import verified_twilio_request

if TYPE_CHECKING:
    from bridge.domain.calls import Change
    from bridge.domain.inbound import HttpRequest
    from bridge.ports import CallRegistry, TwilioSignatures

STARTING = frozenset({"initiated", "ringing", "in-progress", "answered"})
ENDING = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
CLIENT_PREFIX = "client:"
IDENTITY_PREFIX = "identity:"


@dataclass(frozen=True)
class Target:
    key: str
    call_sid: str


@dataclass(frozen=True)
class Applied:
    """What a callback did: registered, unregistered or ignored (and why)."""

    outcome: Outcome
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
    if not is_recipient_key(key):
        raise InvalidCallback(f"The key must be {KEY_RULE}.")
    if not CALL_SID.fullmatch(sid):
        raise InvalidCallback("The callback names no valid Call SID.")
    return Target(key=key, call_sid=sid)


def _timestamp(params: FormParams) -> float | None:
    try:
        return parsedate_to_datetime(params.first("Timestamp")).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


class CallStatus:
    def __init__(
        self,
        *,
        signatures: TwilioSignatures,
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
            return Applied(Outcome.IGNORED, "no Voice SDK side", status=status, call_sid=params.first("CallSid"))
        if status in ENDING:
            change = self._registry.ended(found.key, found.call_sid)
            outcome = Outcome.UNREGISTERED if change.changed else Outcome.IGNORED
        elif status in STARTING:
            change = self._registry.started(
                found.key,
                found.call_sid,
                ttl_seconds=self._max_call_seconds,
                started=_timestamp(params),
                leg=params.first("CallSid"),
                seq=sequence_number(params.first("SequenceNumber")),
            )
            outcome = Outcome.REGISTERED if change.changed else Outcome.IGNORED
        else:
            return Applied(Outcome.IGNORED, "unknown status", key=found.key, call_sid=found.call_sid, status=status)
        reason = status if change.changed else "stale or repeated callback"
        return Applied(outcome, reason, key=found.key, call_sid=found.call_sid, status=status, change=change)

    def _verified(self, request: HttpRequest) -> FormParams:
        check_size(request.body)
        signed = verified_twilio_request(self._signatures, request, signed_url(request, self._public_base_url))
        if not isinstance(signed, FormParams):
            raise InvalidCallback("A status callback is form-encoded.")
        return signed
