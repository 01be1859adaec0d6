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
from urllib.parse import parse_qs

from bridge.call_messages import MAX_MESSAGE_BYTES, MESSAGE_SID, CallMessage
from bridge.call_status import FormParams
from bridge.errors import ContentTooLarge, InvalidCallback, InvalidTwilioSignature
from bridge.limits import parse_limited_json
from bridge.model import is_call_sid, signed_url

if TYPE_CHECKING:
    from bridge.model import HttpRequest
    from bridge.ports import CallbackSignatures, CallOwners, MessageQueue, MessageSignatures


@dataclass(frozen=True)
class Received:
    """What a message did: `action` is queued or ignored."""

    action: str
    call_sid: str
    message_sid: str
    key: str | None = None
    reason: str | None = None


class MessagesService:
    def __init__(
        self,
        *,
        signatures: CallbackSignatures,
        json_signatures: MessageSignatures,
        owners: CallOwners,
        queue: MessageQueue,
        public_base_url: str | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._signatures = signatures
        self._json_signatures = json_signatures
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
            return Received("ignored", call_sid, sid, reason="no registered SDK leg owns this call")
        sequence = _text(fields.get("SequenceNumber"))
        message = CallMessage(
            sid=sid,
            call_sid=call_sid,
            key=key,
            content_type=_text(fields.get("ContentType")) or "application/json",
            content=_content(fields.get("Content")),
            # ASCII digits only: str.isdigit() also takes "²", which int() refuses.
            sequence=int(sequence) if sequence.isascii() and sequence.isdigit() else None,
            received_at=self._clock(),
        )
        self._queue.enqueue(message.to_json())
        return Received("queued", call_sid, sid, key=key)

    def _verified(self, request: HttpRequest) -> Mapping[str, Any]:
        signature = request.headers.get("x-twilio-signature", "")
        if not signature:
            raise InvalidTwilioSignature("The X-Twilio-Signature header is required.")
        try:
            text = request.body.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidTwilioSignature("The X-Twilio-Signature does not match.") from None
        url = signed_url(request, self._public_base_url)
        settings = request.headers.get("x-twilio-webhooks-signature-settings")
        if request.headers.get("content-type", "").lower().startswith("application/json"):
            # Without bodySHA256 the signature would cover the URL only, never the body.
            if "bodySHA256" not in parse_qs(request.raw_query):
                raise InvalidTwilioSignature("A JSON callback must carry bodySHA256 in its signed URL.")
            self._json_signatures.verify_json(url, text, signature, settings)
            # Within the input limits: a deep nesting bomb is a 400, never a RecursionError.
            parsed = parse_limited_json(request.body)
            if not isinstance(parsed, dict):
                raise InvalidCallback("The message body is not a JSON object.")
            return parsed
        params = FormParams(parse_qs(text, keep_blank_values=True))
        self._signatures.verify(url, params, signature, settings)
        return {name: values[0] for name, values in params.items() if values}


def _text(value: Any) -> str:
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""


def _content(value: Any) -> str:
    # In a JSON callback Content may arrive as a JSON value rather than a string holding one.
    if isinstance(value, str):
        return value
    return "" if value is None else json.dumps(value, separators=(",", ":"), ensure_ascii=False)
