"""POST /twilio/messages: a message the SDK user sent on a call, verified, attributed and queued.

Twilio calls the subscription's Callback with the message (CallSid, Sid, ContentType, Content,
SequenceNumber), form-encoded, or as JSON with `bodySHA256` in the signed URL. Nothing about the
body is trusted before X-Twilio-Signature is: a forged request is a 403 and queues nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bridge.domain.call_message import MAX_MESSAGE_BYTES, MESSAGE_SID, CallMessage
from bridge.domain.calls import is_call_sid
from bridge.domain.errors import ContentTooLarge, InvalidCallback
from bridge.domain.inbound import sequence_number, signed_url
from bridge.domain.limits import parse_limited_json
from bridge.domain.outcomes import Outcome
from bridge.sources.signatures import verified_twilio_request

if TYPE_CHECKING:
    from bridge.domain.inbound import HttpRequest
    from bridge.ports import CallMessageQueue, CallOwners, TwilioSignatures


@dataclass(frozen=True)
class Received:
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
        queue: CallMessageQueue,
        public_base_url: str | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._signatures = signatures
        self._owners = owners
        self._queue = queue
        self._public_base_url = public_base_url
        self._clock = clock

    def handle(self, request: HttpRequest) -> Received:
        if len(request.body) > MAX_MESSAGE_BYTES:
            # Before the signature: hashing an oversized body is work an attacker could ask for.
            raise ContentTooLarge("The message is too large.", size=len(request.body), limit=MAX_MESSAGE_BYTES)
        fields = self._verified(request)
        call_sid, sid = _text(fields.get("CallSid")), _text(fields.get("Sid"))
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
            content=_content(fields.get("Content")),
            sequence=sequence_number(_text(fields.get("SequenceNumber"))),
            received_at=self._clock(),
        )
        self._queue.enqueue(message.to_json())
        return Received(Outcome.QUEUED, call_sid, sid, key=key)

    def _verified(self, request: HttpRequest) -> Mapping[str, Any]:
        signed = verified_twilio_request(self._signatures, request, signed_url(request, self._public_base_url))
        if isinstance(signed, str):
            # Within the input limits: a deep nesting bomb is a 400, never a RecursionError.
            parsed = parse_limited_json(request.body)
            if not isinstance(parsed, dict):
                raise InvalidCallback("The message body is not a JSON object.")
            return parsed
        return {name: values[0] for name, values in signed.items() if values}


def _text(value: Any) -> str:
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""


def _content(value: Any) -> str:
    # In a JSON callback Content may arrive as a JSON value rather than a string holding one.
    if isinstance(value, str):
        return value
    return "" if value is None else json.dumps(value, separators=(",", ":"), ensure_ascii=False)
