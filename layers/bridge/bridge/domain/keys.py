"""Recipient keys: what an event's `to` names and what the call registry is keyed by."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from bridge.domain.errors import InvalidRequest
from bridge.domain.phones import PHONE_PREFIX, normalise_phone

MAX_KEY_CHARS = 256
# How many recipient keys one event may name: each is one registry read on the event's path.
MAX_RECIPIENTS = 10
# The calls table also holds the bridge's own items ("#call:<CallSid>", an SDK leg's owner) beside
# the recipients' keys, so no recipient key may start with this.
RESERVED_PREFIX = "#"
KEY_RULE = f"1 to {MAX_KEY_CHARS} characters long, without control characters, not starting with {RESERVED_PREFIX}"
# Unicode's Cc (control) and Cs (surrogate) categories, which are fixed ranges: one regex search
# instead of a category lookup per character, on every event's ID and recipient.
_NOT_PLAIN = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def is_plain_text(value: str) -> bool:
    """No control characters (newlines included) and no lone surrogates: safe in a log line, a
    DynamoDB key and a Twilio parameter."""
    return _NOT_PLAIN.search(value) is None


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


def recipient_keys(value: Any) -> tuple[str, ...]:
    """An event's recipients, as a profile's `to` found them: one key or a list (nulls and
    duplicates dropped, order kept). A `phone:` key is normalised to E.164 (senders' phone fields
    are free-form); one that holds no number concerns no one's call and is dropped; any other key
    must be a valid key. Raises ValueError naming the problem."""
    found = value if isinstance(value, list) else [value]
    keys: list[str] = []
    for candidate in found:
        if candidate is None or candidate is False or candidate == "":
            continue  # a candidate the delivery doesn't have (`a && join(...)` gives false or null)
        if not is_recipient_key(candidate):
            raise ValueError(f"found a recipient that is not a key of {KEY_RULE}")
        if candidate.startswith(PHONE_PREFIX):
            number = normalise_phone(candidate[len(PHONE_PREFIX) :])
            if number is None:
                continue
            candidate = PHONE_PREFIX + number
        if candidate not in keys:
            keys.append(candidate)
    if len(keys) > MAX_RECIPIENTS:
        raise ValueError(f"found {len(keys)} recipients; an event may name at most {MAX_RECIPIENTS}")
    return tuple(keys)
