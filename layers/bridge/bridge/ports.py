"""Every port a use case needs: what it asks of the outside world, in domain terms.

Adapters (bridge.adapters) implement these; bootstrap.py plugs them in. Each raises domain errors
(bridge.domain.errors), never an SDK's, so a use case can be tested with the in-memory fakes of
tests/unit/fakes.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from bridge.domain.call_message import Claim
    from bridge.domain.calls import ActiveCall, CallEntry, Change, SentMessage
    from bridge.domain.events import Event
    from bridge.domain.inbound import FormParams
    from bridge.domain.parking import LedgerEntry, MalformedEntry, ParkedEvent
    from bridge.domain.retry import Deadline


# -- the call registry and what waits for it -------------------------------------------------------


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

    def park(
        self, event: Event, content: str, hold_seconds: int, *, recipient: str, cause: str, not_before: float = 0.0
    ) -> ParkedEvent:
        """Parks the event for one of its recipients; `cause` says why (no call yet, or throttled), and
        `not_before` when it may be tried again (Twilio's Retry-After)."""
        ...

    def pending(self, recipient: str) -> list[ParkedEvent]: ...

    def claim(self, event: ParkedEvent, token: str) -> bool: ...

    def release(self, event: ParkedEvent, token: str) -> None: ...

    def remove(self, event: ParkedEvent, token: str | None) -> bool: ...


class Ledger(Protocol):
    """Every accepted event that ended without delivery, with its reason."""

    def record(self, entry: LedgerEntry) -> None: ...

    def get(self, event_key: str) -> LedgerEntry | MalformedEntry | None: ...

    def failed_since(
        self, since: float, *, include_replayed: bool = False
    ) -> tuple[list[LedgerEntry], list[MalformedEntry]]:
        """The entries that failed since then, and apart, the items there that are not entries."""
        ...

    def mark_replayed(self, event_key: str, message_sid: str) -> None: ...


class FirstSeen(Protocol):
    """When the bridge first saw each event: the event time of sources that send none."""

    def first_seen(self, event_key: str) -> float:
        """The time of the first call for this key (now, the first time); the same on every retry."""
        ...


class IdempotencyGate(Protocol):
    def run(
        self, key: str, body: Any, function: Callable[[], dict[str, Any]], deadline: Deadline
    ) -> tuple[dict[str, Any], bool]:
        """Runs `function` once per key; returns its result and whether it was replayed.

        A claim left by an invocation that dies expires with `deadline`."""
        ...


# -- secrets and signatures ------------------------------------------------------------------------


class WebhookSecrets(Protocol):
    def __call__(self) -> Mapping[str, Sequence[str]]:
        """Secrets by source name, as the secret holds them now; several per source during a rotation."""
        ...


class TwilioSignatures(Protocol):
    """X-Twilio-Signature, checked against the account's auth token(s)."""

    def verify(self, url: str, signed: FormParams | str, signature: str, settings: str | None) -> None:
        """Returns when Twilio signed this request: `signed` is the form's fields, or a JSON body's
        text (whose SHA-256 the URL's bodySHA256 carries). Raises InvalidTwilioSignature otherwise."""


# -- Twilio out ------------------------------------------------------------------------------------


class UdmSender(Protocol):
    def send(self, call_sid: str, content: str, idempotency_key: str, timeout: float) -> SentMessage:
        """One attempt at a User Defined Message; raises retry.Transient for what another attempt may fix."""
        ...


class Subscriber(Protocol):
    def subscribe(self, call_sid: str, callback_url: str, idempotency_key: str, timeout: float) -> str:
        """One attempt; returns the subscription SID. Raises Transient, CallNotActive or TwilioError."""
        ...


# -- messages from the call ------------------------------------------------------------------------


class CallOwners(Protocol):
    """Call SID -> the key it is registered under: a second registry item per SDK leg."""

    def claim(self, call_sid: str, key: str, expires_at: int) -> bool:
        """Records the owner; returns whether the call still needs its subscription."""
        ...

    def owner(self, call_sid: str) -> str | None: ...

    def subscribed(self, call_sid: str, subscription_sid: str) -> None: ...


class MessageClaims(Protocol):
    """Each call message's Sid, claimed before it is queued, so it is forwarded once.

    A claim is held until `lease_until` (when the invocation that holds it can no longer be
    running), then marked queued for good, or released if the message never reached the queue."""

    def claim(self, sid: str, token: str, lease_until: float) -> Claim:
        """Takes the Sid unless it was queued, or another claim's lease still runs; atomic."""
        ...

    def queued(self, sid: str, token: str) -> None:
        """The message is in the queue: every later arrival of the Sid is a replay."""
        ...

    def release(self, sid: str, token: str) -> None:
        """The message never reached the queue: the sender's retry may claim the Sid again."""
        ...


class CallMessageQueue(Protocol):
    def enqueue(self, body: str) -> None: ...


class WebhookSender(Protocol):
    def send(self, webhook_id: str, body: str, timeout: float) -> int:
        """One signed attempt; returns the status. Raises Transient for what another attempt may fix,
        ForwardRefused for an answer no retry changes."""
        ...
