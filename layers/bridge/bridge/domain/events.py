"""Events: what a sender's webhook carries to a call, and the rules on their IDs and types."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# The built-in source: Standard Webhooks carrying the bridge's own envelope, at /events.
DEFAULT_SOURCE = "default"
MAX_ID_CHARS = 256
# Any source's event type: the envelope's rule, plus `/` for topics such as Shopify's orders/create.
EVENT_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}")


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    timestamp: str | None
    to: str
    data: Any
    body: Any
    source: str = DEFAULT_SOURCE
    hold_seconds: int | None = None  # how long the sender lets it wait for the call; never in Content
    # What the event is deduplicated under when it is not its ID: the body's digest, for schemes
    # whose signature covers no timestamp and no ID (a replay may come with any delivery ID).
    dedupe_id: str | None = None

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
