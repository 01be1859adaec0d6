"""Messages from the call: what the agent's Voice SDK app sends back (`call.sendMessage`), as values.

Twilio delivers each message to a UserDefinedMessageSubscription's Callback; the bridge queues it
and forwards it to FORWARD_URL as a Standard Webhooks request. Pure values and rules, no I/O.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from bridge.domain.keys import internal_key
from bridge.domain.outcomes import Outcome
from bridge.domain.parking import LedgerEntry, Undelivered
from bridge.domain.records import Record

# The ledger's source of forwarded messages; their event key is "call:<message SID>".
MESSAGE_SOURCE = "call"
WEBHOOK_TYPE = "call.message"
# The message's Sid becomes the webhook-id. The JavaScript SDK makes it KX + 32 hex digits (its
# voiceEventSid); other SDKs' aren't documented, so any short token is accepted.
MESSAGE_SID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Far above a message's 10 KB Content, far below SQS's message size limit.
MAX_MESSAGE_BYTES = 64 * 1024
# The registry's second item per Call SID, for the Call SID -> key lookup: "#call:<CallSid>", a
# name no recipient key can take.
OWNER_PREFIX = internal_key("call:")


# The fields of a callback the bridge reads, each of which Twilio sends once; without the first
# three there is nothing to forward, and a field given twice would let its order decide.
REQUIRED_FIELDS = ("CallSid", "Sid", "Content")
READ_FIELDS = (*REQUIRED_FIELDS, "ContentType", "SequenceNumber")


class Claim(StrEnum):
    """What claiming a message's Sid found: each Sid is queued once, however often it arrives."""

    CLAIMED = "claimed"  # this invocation queues it
    QUEUED = "queued"  # an earlier arrival queued it: this one is a replay
    BUSY = "busy"  # another invocation is queueing it right now


def subscription_key(call_sid: str) -> str:
    """The subscription's IdempotencyKey: one per SDK leg, however often the stream repeats it."""
    return f"udm-bridge-subscription-{call_sid}"


def owner_item_key(call_sid: str) -> str:
    return OWNER_PREFIX + call_sid


class CallMessage(Record, eq=True):
    """One message the SDK user sent on a call, and whose call it is."""

    sid: str
    call_sid: str
    key: str
    content_type: str
    content: str
    sequence: int | None
    received_at: float

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> CallMessage:
        values = json.loads(text)
        return cls(**{name: values[name] for name in cls.__dataclass_fields__})

    @property
    def event_key(self) -> str:
        return f"{MESSAGE_SOURCE}:{self.sid}"

    def data(self) -> Any:
        """The Content, parsed when it is JSON (whatever ContentType says), else the string."""
        try:
            return json.loads(self.content)
        except ValueError:
            return self.content

    def webhook_body(self) -> str:
        """The forwarded webhook's body: the same bytes on every attempt and on a replay."""
        timestamp = datetime.fromtimestamp(self.received_at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        body = {
            "type": WEBHOOK_TYPE,
            "timestamp": timestamp,
            "from": self.key,
            "call_sid": self.call_sid,
            "data": self.data(),
        }
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False)

    def ledger_entry(self, detail: str, attempts: int) -> LedgerEntry:
        """A forward that failed for good: replay sends `content` (the webhook body) again."""
        undelivered = Undelivered(
            self.event_key, self.sid, MESSAGE_SOURCE, self.key, self.webhook_body(), self.received_at
        )
        return undelivered.failed(Outcome.FORWARD_FAILED, detail, attempts=attempts)
