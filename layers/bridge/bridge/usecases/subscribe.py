"""The subscribe use case: every registered SDK leg gets one UserDefinedMessageSubscription.

Runs off the request path, from the CallsTable stream. Each live call is first claimed in its
owner item (Call SID -> key, which /twilio/messages reads); a call whose owner item already holds a
subscription is done, so replayed or out-of-order callbacks, which at most refresh the item, never
subscribe twice. The IdempotencyKey derived from the Call SID covers the rest: a retry after a
lost answer gets Twilio's first subscription back. A call that ends first is simply skipped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from bridge.domain.call_message import subscription_key
from bridge.domain.errors import CallNotActive, TwilioError, TwilioUnavailable
from bridge.domain.outcomes import Happening, Outcome
from bridge.domain.phones import is_phone_key
from bridge.domain.retry import BudgetExhausted, Deadline, RetryPolicy, run_with_retries

if TYPE_CHECKING:
    from bridge.domain.calls import CallState
    from bridge.ports import CallOwners, Subscriber


class Subscribe:
    def __init__(
        self,
        *,
        owners: CallOwners,
        subscriber: Subscriber | None,
        callback_url: str,
        policy: RetryPolicy,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._owners = owners
        self._subscriber = subscriber  # None: forwarding is off, nothing subscribes
        self._callback_url = callback_url
        self._policy = policy
        self._clock = clock

    def call_changed(self, key: str, state: CallState, deadline: Deadline) -> list[Happening]:
        """Subscribes the key's live calls that have no subscription yet; returns what became of each
        (subscribed, subscription_skipped, subscription_failed).

        Raises TwilioUnavailable when Twilio keeps failing, so the stream record is retried.
        """
        subscriber = self._subscriber
        if subscriber is None:
            return []
        made: list[Happening] = []
        for call_sid, entry in state.live(self._clock()):
            if is_phone_key(key) and entry.leg:
                # A callback put this leg under the caller's number and under the SDK user's
                # own key, which owns it: messages from the call are from the agent, not the caller.
                continue
            if not self._owners.claim(call_sid, key, entry.expires_at):
                continue
            try:
                sid = run_with_retries(self._attempt(subscriber, call_sid), self._policy, deadline)
            except BudgetExhausted as exhausted:
                raise TwilioUnavailable(f"Twilio did not take the subscription: {exhausted}.") from None
            except CallNotActive:
                # Not active (yet, or any more): left unsubscribed, so the call's next change tries again;
                # a call that ended has no next change, and nothing will be sent on it.
                made.append(Happening(Outcome.SUBSCRIPTION_SKIPPED, {"recipient": key, "call_sid": call_sid}))
                continue
            except TwilioError as refused:
                failed = {"recipient": key, "call_sid": call_sid, "detail": refused.detail}
                made.append(Happening(Outcome.SUBSCRIPTION_FAILED, {**failed, "twilio_code": refused.twilio_code}))
                continue
            self._owners.subscribed(call_sid, sid)
            made.append(Happening(Outcome.SUBSCRIBED, {"recipient": key, "call_sid": call_sid, "subscription": sid}))
        return made

    def _attempt(self, subscriber: Subscriber, call_sid: str) -> Callable[[float], str]:
        key = subscription_key(call_sid)
        return lambda timeout: subscriber.subscribe(call_sid, self._callback_url, key, timeout)
