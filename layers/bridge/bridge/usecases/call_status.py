"""Twilio status callbacks keep the call registry current.

Each callback is verified (X-Twilio-Signature, through the TwilioSignatures port), mapped to the
Voice SDK leg and the recipient key it belongs to, and applied to the registry: calls that start
are added, calls that end are removed, and nothing else is touched. The party on the other end of
that leg, when it is a phone number, gets the same leg under its `phone:` key, by the same rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from bridge.domain.calls import CALL_SID
from bridge.domain.errors import BridgeError, InvalidCallback
from bridge.domain.inbound import FormParams, sequence_number, signed_url
from bridge.domain.keys import KEY_RULE, is_recipient_key
from bridge.domain.limits import check_size
from bridge.domain.outcomes import Happening, Outcome
from bridge.domain.phones import phone_key
from bridge.domain.records import Record
from bridge.sources.signatures import verified_twilio_request

if TYPE_CHECKING:
    from bridge.domain.calls import Change
    from bridge.domain.inbound import HttpRequest
    from bridge.ports import CallRegistry, TwilioSignatures

# Twilio takes UDMs for a leg once it rings (before that, error 21220, which reads as "gone" and
# would end the registration): a leg is registered from ringing on, never on initiated or queued.
STARTING = frozenset({"ringing", "in-progress", "answered"})
NOT_YET = frozenset({"queued", "initiated"})
ENDING = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
CLIENT_PREFIX = "client:"
IDENTITY_PREFIX = "identity:"


class Target(Record, eq=True):
    key: str
    call_sid: str
    phone: str | None = None  # the remote party's phone key, when it is a phone number


class KeyApplied(Record, eq=True):
    """What a callback did to one more key's calls: the remote party's phone key."""

    outcome: Outcome
    reason: str
    change: Change
    key: str

    def happening(self, call_sid: str, status: str) -> Happening:
        """Logged and counted beside the callback's own outcome."""
        return Happening(self.outcome, _line(self.outcome, self.reason, self.key, call_sid, status, self.change))


class Applied(Record, eq=True):
    """What a callback did: registered, unregistered or ignored (and why), to the SDK user's key, and
    in `phone` to the remote party's phone key."""

    outcome: Outcome
    reason: str
    key: str | None = None
    call_sid: str | None = None
    status: str | None = None
    change: Change | None = None
    phone: KeyApplied | None = None

    def fields(self) -> dict[str, Any]:
        """The log line's fields for the SDK user's key."""
        return _line(self.outcome, self.reason, self.key, self.call_sid, self.status, self.change)

    def also(self) -> list[Happening]:
        """The phone key's change, logged and counted beside the callback's own outcome."""
        if self.phone is None or self.call_sid is None or self.status is None:
            return []
        return [self.phone.happening(self.call_sid, self.status)]


def _line(
    outcome: Outcome, reason: str, key: str | None, call_sid: str | None, status: str | None, change: Change | None
) -> dict[str, Any]:
    return {
        "reason": reason if outcome is Outcome.IGNORED else None,
        "recipient": key,
        "call_sid": call_sid,
        "call_status": status,
        "active_call": change.active if change else None,
    }


def target(params: FormParams, query: Mapping[str, list[str]]) -> Target | None:
    """Which key and which call a callback is about; None when it concerns no Voice SDK user.

    A key named in the (signed) URL wins; with leg=parent the call is the parent leg, the SDK
    leg of a call the SDK user placed. Otherwise the SDK side is `To` on a child leg (calls the
    user receives) and `From` on a parent leg (calls the user places). The other side, when it is a
    phone number, is the remote party (see `remote_party`).
    """
    call_sid = params.first("CallSid")
    parent_sid = params.first("ParentCallSid")
    via_parent = False
    if "key" in query:
        key = query["key"][0]
        via_parent = (query.get("leg") or [""])[0] == "parent"
        sid = parent_sid if via_parent else call_sid
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
    return Target(key=key, call_sid=sid, phone=phone_key(remote_party(params, via_parent)))


def remote_party(params: FormParams, via_parent: bool) -> str:
    """Who is on the other end of the SDK leg, as the callback names them.

    On a dialled leg reporting for its parent (leg=parent: the SDK user called out), the party is
    the dialled `To`. On the SDK leg itself, it is the side that isn't the `client:` address: `From`
    when the SDK user was called (`To` = client:bob), `To` when the SDK user called (`From` =
    client:alice). With no client side (a key in the URL of some other leg) nobody: its `From` may
    be the account's own number.
    """
    to, from_ = params.first("To"), params.first("From")
    if via_parent:
        return to
    if to.startswith(CLIENT_PREFIX):
        return from_
    return to if from_.startswith(CLIENT_PREFIX) else ""


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
        if status in NOT_YET:
            reason = "the leg takes no messages before it rings"
            return Applied(Outcome.IGNORED, reason, key=found.key, call_sid=found.call_sid, status=status)
        if status not in STARTING | ENDING:
            return Applied(Outcome.IGNORED, "unknown status", key=found.key, call_sid=found.call_sid, status=status)
        phone = None
        if found.phone is not None:
            # The same leg under the remote party's number: its own item, with the same tombstones and
            # sequence rules, so replays and late callbacks treat both keys alike. Written first, so
            # the SDK user's key is registered as close to the answer as it was without it.
            phone = KeyApplied(*self._apply(found.phone, found.call_sid, status, params), key=found.phone)
        try:
            outcome, reason, change = self._apply(found.key, found.call_sid, status, params)
        except BridgeError as error:
            # The phone key changed all the same; a repeated callback repeats only the SDK user's write.
            if phone is not None:
                error.happened.append(phone.happening(found.call_sid, status))
            raise
        return Applied(
            outcome, reason, key=found.key, call_sid=found.call_sid, status=status, change=change, phone=phone
        )

    def _apply(self, key: str, call_sid: str, status: str, params: FormParams) -> tuple[Outcome, str, Change]:
        if status in ENDING:
            change = self._registry.ended(key, call_sid)
            outcome = Outcome.UNREGISTERED if change.changed else Outcome.IGNORED
        else:
            change = self._registry.started(
                key,
                call_sid,
                ttl_seconds=self._max_call_seconds,
                started=_timestamp(params),
                leg=params.first("CallSid"),
                seq=sequence_number(params.first("SequenceNumber")),
            )
            outcome = Outcome.REGISTERED if change.changed else Outcome.IGNORED
        return outcome, status if change.changed else "stale or repeated callback", change

    def _verified(self, request: HttpRequest) -> FormParams:
        check_size(request.body)
        signed = verified_twilio_request(self._signatures, request, signed_url(request, self._public_base_url))
        if not isinstance(signed, FormParams):
            raise InvalidCallback("A status callback is form-encoded.")
        return signed
