"""UserDefinedMessageSubscriptions through the real twilio client: the Subscriber port."""

from __future__ import annotations

from bridge.adapters.twilio.rest import TwilioCalls


class TwilioSubscriber(TwilioCalls):
    def subscribe(self, call_sid: str, callback_url: str, idempotency_key: str, timeout: float) -> str:
        subscription = self._create(
            call_sid,
            "UserDefinedMessageSubscriptions",
            {"Callback": callback_url, "Method": "POST", "IdempotencyKey": idempotency_key},
            timeout,
        )
        return str(subscription.get("sid"))
