"""One User Defined Message to one call, inside the retry budget: shared by ingest, the flusher and replays."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from bridge.domain.errors import CallNotActive, TwilioUnavailable
from bridge.domain.retry import BudgetExhausted, Deadline, RetryPolicy, run_with_retries
from bridge.observability import Latency, record_latency, retry_logged

if TYPE_CHECKING:
    from bridge.domain.calls import SentMessage
    from bridge.ports import CallRegistry, UdmSender


class UdmOut:
    def __init__(
        self, sender: UdmSender, policy: RetryPolicy, registry: CallRegistry, clock: Callable[[], float] = time.time
    ) -> None:
        self._sender = sender
        self._policy = policy
        self._registry = registry
        self._clock = clock
        # Twilio's limit is the account's: after a 429 whose Retry-After hasn't passed, any request of
        # this container would get one too. Callers that yield to throttling don't send till then.
        self._paused_until = 0.0

    @property
    def attempt_timeout(self) -> float:
        return self._policy.attempt_timeout

    def send(
        self,
        recipient: str,
        call_sid: str,
        content: str,
        key: str,
        deadline: Deadline,
        *,
        yield_to_throttling: bool = False,
        whole_attempts: bool = False,
    ) -> SentMessage:
        """Posts with the same IdempotencyKey on every attempt, so a retry can't become a second message.
        With `yield_to_throttling`, Twilio's first 429 ends the attempts (the caller parks the event), and
        while the Retry-After of the last 429 this container saw runs, nothing is sent at all. With
        `whole_attempts`, no attempt starts that the deadline would cut short.

        Raises TwilioUnavailable when the budget runs out, CallNotActive (after ending the stale
        mapping, which it says in `mapping_removed`) when Twilio says the call is gone, and the
        sender's other permanent errors as they are.
        """
        if yield_to_throttling and (pause := self._paused_until - self._clock()) > 0:
            raise TwilioUnavailable("Twilio asked for a pause that has not run out.", retry_after=math.ceil(pause))
        policy = self._policy
        if yield_to_throttling:
            policy = replace(policy, stop_when_throttled=True)
        if whole_attempts:
            policy = replace(policy, min_attempt=policy.attempt_timeout)
        started = time.perf_counter()
        try:
            sent = run_with_retries(
                lambda timeout: self._sender.send(call_sid, content, key, timeout),
                policy,
                deadline,
                on_retry=retry_logged("twilio"),
            )
        except BudgetExhausted as exhausted:
            if exhausted.last is not None and exhausted.last.throttled:
                self._paused_until = max(self._paused_until, self._clock() + exhausted.retry_after_seconds)
            raise TwilioUnavailable(
                f"Twilio did not accept the message after {exhausted.attempts} attempt(s): {exhausted}.",
                retry_after=exhausted.retry_after_seconds,
            ) from None
        except CallNotActive as gone:
            # A newer call of the recipient is untouched: only the call Twilio named is ended.
            gone.mapping_removed = self._registry.forget_stale(recipient, gone.call_sid)
            raise
        record_latency(Latency.DELIVERY, (time.perf_counter() - started) * 1000)
        return sent
