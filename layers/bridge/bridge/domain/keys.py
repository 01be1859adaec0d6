"""Recipient keys: what an event's `to` names and what the call registry is keyed by."""

from __future__ import annotations

import unicodedata
from urllib.parse import unquote

from bridge.domain.errors import InvalidRequest

MAX_KEY_CHARS = 256
# The calls table also holds the bridge's own items ("#call:<CallSid>", an SDK leg's owner) beside
# the recipients' keys, so no recipient key may start with this.
RESERVED_PREFIX = "#"
KEY_RULE = f"1 to {MAX_KEY_CHARS} characters long, without control characters, not starting with {RESERVED_PREFIX}"


def is_plain_text(value: str) -> bool:
    """No control characters (newlines included) and no lone surrogates: safe in a log line, a
    DynamoDB key and a Twilio parameter."""
    return all(unicodedata.category(char) not in ("Cc", "Cs") for char in value)


def is_recipient_key(value: object) -> bool:
    return (
        isinstance(value, str)
        and 1 <= len(value) <= MAX_KEY_CHARS
        and is_plain_text(value)
        and not value.startswith(RESERVED_PREFIX)
    )


def internal_key(name: str) -> str:
    """The key of one of the bridge's own items in the calls table, which no recipient key can name."""
    return RESERVED_PREFIX + name


def recipient_key(raw: str) -> str:
    """A key from a URL path: clients may percent-encode it (identity%3Aalice) or not (identity:alice)."""
    key = unquote(raw)
    if not is_recipient_key(key):
        raise InvalidRequest(f"The key must be {KEY_RULE}.")
    return key
