"""Every outcome the bridge logs and counts, as one enum: each value is a log line's `outcome` and a
metric's name (template.yaml's alarms and dashboard watch some of them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from enum import StrEnum
from typing import Any

from bridge.domain.records import Record


class Outcome(StrEnum):
    # An event's, answered to its sender.
    DELIVERED = "delivered"
    PARKED = "parked"
    STALE = "stale"
    IGNORED = "ignored"
    NO_ACTIVE_CALL = "no_active_call"
    # A request that failed: the error's own.
    REJECTED = "rejected"
    TWILIO_ERROR = "twilio_error"
    UNAVAILABLE = "unavailable"
    ERROR = "error"
    # The calls API and Twilio's status callbacks.
    REGISTERED = "registered"
    UNREGISTERED = "unregistered"
    LOOKED_UP = "looked_up"
    # A parked event's end, and a mapping Twilio said was gone.
    FLUSHED = "flushed"
    EXPIRED = "expired"
    CALL_ENDED = "call_ended"
    TWILIO_REFUSED = "twilio_refused"
    STALE_MAPPING_REMOVED = "stale_mapping_removed"
    # Messages from the call: subscribed, received, forwarded.
    SUBSCRIBED = "subscribed"
    SUBSCRIPTION_SKIPPED = "subscription_skipped"
    SUBSCRIPTION_FAILED = "subscription_failed"
    QUEUED = "queued"
    FORWARDED = "forwarded"
    FORWARD_FAILED = "forward_failed"


class Happening(Record):
    """Something a use case did besides its result (a parked event delivered, a stale mapping
    removed): the entry point logs and counts each as its outcome, with these fields."""

    outcome: Outcome
    fields: Mapping[str, Any] = field(default_factory=dict)

    def get(self, name: str) -> Any:
        return self.fields.get(name)


def stale_mapping_removed(recipient: str, call_sid: str, twilio_code: int | None) -> Happening:
    return Happening(
        Outcome.STALE_MAPPING_REMOVED, {"recipient": recipient, "call_sid": call_sid, "twilio_code": twilio_code}
    )
