"""UserDefinedMessageSubscriptions through the real twilio client: the Subscriber port."""

from __future__ import annotations

from bridge.adapters.twilio.messages import TwilioCalls


class TwilioSubscriber(TwilioCalls):
    def subscribe(self, call_sid: str, callback_url: str, idempotency_key: str, timeout: float) -> str:
        subscription = self._attempt(
            call_sid,
            timeout,
            lambda call: call.user_defined_message_subscriptions.create(
                callback=callback_url, method="POST", idempotency_key=idempotency_key
            ),
        )
        return str(subscription.sid)
