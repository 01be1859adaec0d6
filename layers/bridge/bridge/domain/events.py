"""Events: what a sender's webhook carries to a call, and the rules on their IDs and types."""

from __future__ import annotations

import re
from typing import Any

from bridge.domain.records import Record

# The built-in source: Standard Webhooks carrying the bridge's own envelope, at /events.
DEFAULT_SOURCE = "default"
MAX_ID_CHARS = 256
# Any source's event type: the envelope's rule, plus `/` for topics such as Shopify's orders/create.
EVENT_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}")


class Event(Record):
    id: str
    type: str
    timestamp: str | None
    to: str  # the first recipient; `recipients` are all of them
    data: Any
    body: Any
    source: str = DEFAULT_SOURCE
    hold_seconds: int | None = None  # how long the sender lets it wait for the call; never in Content
    more_to: tuple[str, ...] = ()  # the other recipients, when the event names several
    # What the event is deduplicated under when it is not its ID: the digest of its signed body, for
    # sources whose signature covers no ID or type (a replay may come with any delivery ID).
    dedupe_id: str | None = None

    @property
    def recipients(self) -> tuple[str, ...]:
        return (self.to, *self.more_to)

    @property
    def named_source(self) -> str | None:
        """The source as the agent's app and the sender see it; the default source stays unnamed."""
        return None if self.source == DEFAULT_SOURCE else self.source

    @property
    def key(self) -> str:
        """Idempotency key here and at Twilio: scoped by source, so two sources never collide."""
        return event_key(self.source, self.dedupe_id or self.id)


def event_key(source: str, event_id: str) -> str:
    """`<source>:<id>`, except a default-source ID without a colon, which stays bare.

    Source names have no colon, so everything before a key's first colon names its source and
    no two (source, ID) pairs share a key, whatever characters the IDs hold. Default IDs without
    a colon keep the bare keys they were stored and sent to Twilio under before.
    """
    if source == DEFAULT_SOURCE and ":" not in event_id:
        return event_id
    return f"{source}:{event_id}"


def is_event_type(value: object) -> bool:
    return isinstance(value, str) and EVENT_TYPE.fullmatch(value) is not None


def delivery_key(event_key: str, call_sid: str) -> str:
    """The IdempotencyKey of one event's UDM to one call: the event's key and the Call SID, so an
    event that reaches several calls makes one message on each, and a retry none more."""
    return f"{event_key}@{call_sid}"
