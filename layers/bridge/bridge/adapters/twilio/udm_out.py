"""User Defined Messages through the real twilio client: the UdmSender port."""

from __future__ import annotations

from bridge.adapters.twilio.rest import TwilioCalls
from bridge.domain.calls import SentMessage


class TwilioUdmSender(TwilioCalls):
    def send(self, call_sid: str, content: str, idempotency_key: str, timeout: float) -> SentMessage:
        message = self._create(
            call_sid, "UserDefinedMessages", {"Content": content, "IdempotencyKey": idempotency_key}, timeout
        )
        return SentMessage(message_sid=str(message.get("sid")), call_sid=call_sid)
