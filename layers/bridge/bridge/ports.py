"""Every port a use case needs: what it asks of the outside world, in domain terms.

Adapters (bridge.adapters) implement these; runtime.py plugs them in. Each raises domain errors
(bridge.errors), never an SDK's, so a use case can be tested with plain in-memory stand-ins.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from bridge.model import ActiveCall, CallEntry, Change, Event, FlushResult, LedgerEntry, ParkedEvent, SentMessage
    from bridge.retry import Deadline


class CallRegistry(Protocol):
    """Recipient key -> the live calls it is on."""

    def active_call(self, key: str) -> ActiveCall | None: ...

    def live_calls(self, key: str) -> list[tuple[str, CallEntry]]: ...

    def register(self, key: str, call_sid: str, ttl_seconds: int) -> ActiveCall: ...

    def started(
        self, key: str, call_sid: str, *, ttl_seconds: int, started: float | None, leg: str, seq: int | None
    ) -> Change: ...

    def ended(self, key: str, call_sid: str) -> Change: ...

    def remove(self, key: str, call_sid: str | None = None) -> None: ...

    def forget_stale(self, key: str, call_sid: str) -> bool: ...


class ParkedStore(Protocol):
    """Events waiting for their recipient's call, in arrival order, each claimed before it is posted."""

    def park(self, event: Event, content: str, hold_seconds: int) -> ParkedEvent: ...

    def pending(self, recipient: str) -> list[ParkedEvent]: ...

    def claim(self, event: ParkedEvent, token: str) -> bool: ...

    def release(self, event: ParkedEvent, token: str) -> None: ...

    def remove(self, event: ParkedEvent, token: str | None) -> bool: ...


class Ledger(Protocol):
    """Every accepted event that ended without delivery, with its reason."""

    def record(self, entry: LedgerEntry) -> None: ...

    def get(self, event_key: str) -> LedgerEntry | None: ...

    def failed_since(self, since: float, *, include_replayed: bool = False) -> list[LedgerEntry]: ...

    def mark_replayed(self, event_key: str, message_sid: str) -> None: ...


class Sightings(Protocol):
    """When the bridge first saw each event: the event time of sources that send none."""

    def first_seen(self, event_key: str) -> float:
        """The time of the first call for this key (now, the first time); the same on every retry."""
        ...


class IdempotencyGate(Protocol):
    def run(
        self,
        key: str,
        body: Any,
        function: Callable[[], dict[str, Any]],
        lambda_context: LambdaContext | None,
    ) -> tuple[dict[str, Any], bool]:
        """Runs `function` once per key; returns its result and whether it was replayed."""
        ...


class WebhookSecrets(Protocol):
    def __call__(self) -> Mapping[str, Sequence[str]]:
        """Secrets by source name, as the secret holds them now; several per source during a rotation."""
        ...


class CallbackSignatures(Protocol):
    def verify(self, url: str, params: Mapping[str, list[str]], signature: str, settings: str | None) -> None:
        """Returns when Twilio signed this callback; raises InvalidTwilioSignature otherwise."""


class MessageSender(Protocol):
    def send(self, call_sid: str, content: str, idempotency_key: str, timeout: float) -> SentMessage:
        """One attempt; raises retry.Transient for what another attempt may fix."""
        ...


class Dispatcher(Protocol):
    def send(self, recipient: str, call_sid: str, content: str, key: str, deadline: Deadline) -> SentMessage:
        """One message to one call inside the retry budget; raises CallNotActive when the call is gone."""
        ...


class Flusher(Protocol):
    def flush(self, recipient: str, deadline: Deadline) -> FlushResult: ...


# -- messages from the call (call_messages, messages, forward, subscribe) --------------------------


class CallOwners(Protocol):
    """Call SID -> the key it is registered under: a second registry item per SDK leg."""

    def claim(self, call_sid: str, key: str, expires_at: int) -> bool:
        """Records the owner; returns whether the call still needs its subscription."""
        ...

    def owner(self, call_sid: str) -> str | None: ...

    def subscribed(self, call_sid: str, subscription_sid: str) -> None: ...


class Subscriber(Protocol):
    def subscribe(self, call_sid: str, callback_url: str, idempotency_key: str, timeout: float) -> str:
        """One attempt; returns the subscription SID. Raises retry.Transient, CallNotActive or TwilioError."""
        ...


class MessageQueue(Protocol):
    def enqueue(self, body: str) -> None: ...


class MessageSignatures(Protocol):
    def verify_json(self, url: str, body: str, signature: str, settings: str | None) -> None:
        """A JSON callback: the signature covers the URL, whose bodySHA256 covers the body."""


class WebhookSender(Protocol):
    def send(self, webhook_id: str, body: str, timeout: float) -> int:
        """One signed attempt; returns the status. Raises retry.Transient for what another attempt may fix."""
        ...
