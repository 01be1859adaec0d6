"""POST /twilio/messages: a message the SDK user sent on a call, verified, attributed and queued once.

Twilio calls the subscription's Callback with the message (CallSid, Sid, ContentType, Content,
SequenceNumber), form-encoded, or as JSON with `bodySHA256` in the signed URL. Nothing about the
body is trusted before X-Twilio-Signature is: a forged request is a 403 and queues nothing.

X-Twilio-Signature has no timestamp and signs names and values run together, so a captured
request can be replayed for ever, and "Content=X" resent as "Conten=tX" still verifies. So a
message must carry every field it needs, each once, and its Sid is claimed before it is queued:
each message reaches the queue once, however often it arrives.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from bridge.domain.call_message import MAX_MESSAGE_BYTES, MESSAGE_SID, READ_FIELDS, REQUIRED_FIELDS, CallMessage, Claim
from bridge.domain.calls import is_call_sid
from bridge.domain.errors import BridgeError, ContentTooLarge, EventInProgress, InvalidCallback
from bridge.domain.inbound import sequence_number, signed_url
from bridge.domain.limits import parse_limited_json
from bridge.domain.outcomes import Outcome
from bridge.domain.records import Record
from bridge.observability import logger
from bridge.sources.signatures import verified_twilio_request

if TYPE_CHECKING:
    from bridge.domain.inbound import HttpRequest
    from bridge.domain.retry import Deadline
    from bridge.ports import CallMessageQueue, CallOwners, MessageClaims, TwilioSignatures

DUPLICATE = "duplicate"


class Received(Record, eq=True):
    """What a message did: queued, or ignored (and why)."""

    outcome: Outcome
    call_sid: str
    message_sid: str
    key: str | None = None
    reason: str | None = None


class CallMessageIn:
    def __init__(
        self,
        *,
        signatures: TwilioSignatures,
        owners: CallOwners,
        claims: MessageClaims,
        queue: CallMessageQueue,
        public_base_url: str | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._signatures = signatures
        self._owners = owners
        self._claims = claims
        self._queue = queue
        self._public_base_url = public_base_url
        self._clock = clock

    def handle(self, request: HttpRequest, deadline: Deadline) -> Received:
        if len(request.body) > MAX_MESSAGE_BYTES:
            # Before the signature: hashing an oversized body is work an attacker could ask for.
            raise ContentTooLarge("The message is too large.", size=len(request.body), limit=MAX_MESSAGE_BYTES)
        fields = self._verified(request)
        missing = [name for name in REQUIRED_FIELDS if fields.get(name) is None]
        if missing:
            raise InvalidCallback(f"The message has no {', '.join(missing)}.")
        call_sid, sid = _text(fields["CallSid"]), _text(fields["Sid"])
        # Whole strings: Python's `$` would let a trailing newline through.
        if not is_call_sid(call_sid) or not MESSAGE_SID.fullmatch(sid):
            raise InvalidCallback("The message names no valid CallSid and Sid.")
        key = self._owners.owner(call_sid)
        if key is None:
            # Only subscribed SDK legs send here; a call the bridge never registered has no recipient.
            return Received(Outcome.IGNORED, call_sid, sid, reason="no registered SDK leg owns this call")
        message = CallMessage(
            sid=sid,
            call_sid=call_sid,
            key=key,
            content_type=_text(fields.get("ContentType")) or "application/json",
            content=_content(fields["Content"]),
            sequence=sequence_number(_text(fields.get("SequenceNumber"))),
            received_at=self._clock(),
        )
        return self._queue_once(message, deadline)

    def _queue_once(self, message: CallMessage, deadline: Deadline) -> Received:
        token = uuid.uuid4().hex
        # Held no longer than this invocation can run: if it dies before the queue has the message,
        # the sender's next retry claims it.
        lease_until = self._clock() + deadline.remaining_ms() / 1000
        claim = self._claims.claim(message.sid, token, lease_until)
        if claim is Claim.QUEUED:
            return Received(Outcome.IGNORED, message.call_sid, message.sid, key=message.key, reason=DUPLICATE)
        if claim is Claim.BUSY:
            raise EventInProgress("This message is being queued right now; retry shortly.", retry_after=1)
        try:
            self._queue.enqueue(message.to_json())
        except BaseException:
            self._release(message.sid, token)
            raise
        try:
            self._claims.queued(message.sid, token)
        except BridgeError as error:
            # The queue has it, so it is answered as queued; only a replay after the lease could
            # queue it again, and its webhook-id lets the receiver drop that one.
            logger.warning("call message queued but its claim not marked", message_sid=message.sid, reason=error.code)
        return Received(Outcome.QUEUED, message.call_sid, message.sid, key=message.key)

    def _release(self, sid: str, token: str) -> None:
        try:
            self._claims.release(sid, token)
        except BridgeError as error:
            # The lease still lapses with this invocation: the sender's later retry gets through.
            logger.warning("call message claim not released", message_sid=sid, reason=error.code)

    def _verified(self, request: HttpRequest) -> Mapping[str, Any]:
        signed = verified_twilio_request(self._signatures, request, signed_url(request, self._public_base_url))
        if isinstance(signed, str):
            # Within the input limits: a deep nesting bomb is a 400, never a RecursionError.
            parsed = parse_limited_json(request.body)
            if not isinstance(parsed, dict):
                raise InvalidCallback("The message body is not a JSON object.")
            return parsed
        repeated = [name for name in READ_FIELDS if len(signed.get(name, ())) > 1]
        if repeated:
            # The signature covers every value, sorted: which one came first is the sender's choice.
            raise InvalidCallback(f"The message gives {', '.join(repeated)} more than once.")
        return {name: values[0] for name, values in signed.items() if values}


def _text(value: Any) -> str:
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""


def _content(value: Any) -> str:
    # In a JSON callback Content may arrive as a JSON value rather than a string holding one.
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
