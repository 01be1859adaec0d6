"""The card the agent's app receives: the UDM Content, version 1 (schemas/content.schema.json).

Pure rules, no JMESPath and no I/O: what a card holds, how it is redacted, the integers JavaScript
can't hold, the display limits, and how a card is fitted into Twilio's 10 KB. sources/cards.py
projects an event onto a Card; this module turns the Card into the Content text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import field
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from bridge.domain.errors import ContentTooLarge
from bridge.domain.records import Record

if TYPE_CHECKING:
    from decimal import Decimal

CONTENT_VERSION = 1
MAX_TITLE, MAX_SUMMARY, MAX_LABEL, MAX_VALUE, MAX_URL = 200, 500, 60, 300, 2048
MAX_FIELDS = 12
# The Content names what was redacted, never the values: at most this many pointers, each this long.
MAX_REDACTED, MAX_POINTER = 10, 120
# Number.MAX_SAFE_INTEGER: JSON.parse rounds any integer beyond it (820982911946154508 -> ...500).
SAFE_INTEGER = 2**53 - 1
REDACTED = "[redacted]"

_CARD_CANDIDATE = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SEPARATORS = re.compile(r"[-\s.]+")
# An absolute http(s) URL of RFC 3986's characters only: what the app may safely link to.
_HTTP_URL = re.compile(r"https?://[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+", re.IGNORECASE)
# ISO 4217 minor units that differ from two (Stripe's zero- and three-decimal currencies).
_ZERO_DECIMAL = frozenset(
    [
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "ISK",
        "JPY",
        "KMF",
        "KRW",
        "MGA",
        "PYG",
        "RWF",
        "UGX",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    ]
)
_THREE_DECIMAL = frozenset(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"])
_EXPONENTS = {**dict.fromkeys(_ZERO_DECIMAL, 0), **dict.fromkeys(_THREE_DECIMAL, 3)}
_FRACTION = re.compile(r"(\.\d{6})\d+")
_MILLISECONDS_FROM = 100_000_000_000


class Card(Record):
    """What the agent sees about one event, before redaction and the size limit."""

    title: str
    summary: str | None = None
    url: str | None = None
    fields: tuple[tuple[str, str], ...] = ()
    data: Any = field(default_factory=dict)
    drop: tuple[str, ...] = ()  # data members to drop first, in order, when the card is over the limit


class Content(Record):
    """The UDM Content text, with the JSON pointers of what was redacted and whether data was dropped."""

    text: str
    redacted: tuple[str, ...] = ()
    truncated: bool = False


class Redaction(Record):
    """Members whose key names a secret are removed; text matching a pattern, or holding a card
    number, is masked. `keys` are snake_case names: a key matches one when, in snake_case, it is the
    name or ends with `_<name>` (clientSecret and webhook_secret both end in secret)."""

    keys: frozenset[str]
    patterns: tuple[re.Pattern[str], ...] = ()

    def secret_key(self, key: str) -> bool:
        return _names_secret(self.keys, key)

    def mask(self, text: str) -> str:
        masked = _CARD_CANDIDATE.sub(_mask_card_number, text)
        for pattern in self.patterns:
            masked = pattern.sub(REDACTED, masked)
        return masked

    def apply(self, value: Any, pointer: str, found: list[str]) -> Any:
        """The value with secrets removed or masked; each one's JSON pointer appended to `found`."""
        if isinstance(value, Mapping):
            kept = {}
            for key, inner in value.items():
                inner_pointer = f"{pointer}/{_escape(str(key))}"
                if self.secret_key(str(key)):
                    found.append(inner_pointer)
                else:
                    kept[key] = self.apply(inner, inner_pointer, found)
            return kept
        if isinstance(value, list):
            return [self.apply(inner, f"{pointer}/{index}", found) for index, inner in enumerate(value)]
        if isinstance(value, str):
            masked = self.mask(value)
            if masked != value:
                found.append(pointer)
            return masked
        return value


# A sender's bodies repeat the same few keys event after event: each is judged once per container.
@lru_cache(maxsize=4096)
def _names_secret(secrets: frozenset[str], key: str) -> bool:
    name = _SEPARATORS.sub("_", _CAMEL.sub("_", key)).lower()
    return name in secrets or any(name.endswith("_" + secret) for secret in secrets)


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def _mask_card_number(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    # Card brands' numbers start with 2 to 6 (Mastercard, Amex, Visa, Discover...): record IDs that
    # happen to pass Luhn, such as Zendesk's 13-digit IDs starting with 8, stay as they are.
    if 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn_valid(digits):
        return "•••• " + digits[-4:]
    return match.group()


def safe_integers(value: Any) -> Any:
    """Integers JavaScript can't hold exactly, as strings: the app sees Shopify's IDs intact."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value) if abs(value) > SAFE_INTEGER else value
    if isinstance(value, Mapping):
        return {key: safe_integers(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [safe_integers(inner) for inner in value]
    return value


# -- formatters (named functions of the card spec language) ------------------------------------------


def money(amount: Any, currency: Any) -> str | None:
    """An amount in minor units (Stripe's 2000 usd) as `20.00 USD`."""
    from decimal import Decimal, InvalidOperation  # only amounts need it: ~5 ms of cold start

    if isinstance(amount, bool) or not isinstance(amount, int | str) or not isinstance(currency, str):
        return None
    try:
        minor = Decimal(str(amount))
    except InvalidOperation:
        return None
    if minor != minor.to_integral_value():
        return None
    code = currency.upper()
    exponent = _EXPONENTS.get(code, 2)
    return _amount(minor.scaleb(-exponent), exponent, code)


def price(amount: Any, currency: Any) -> str | None:
    """A decimal amount in major units (Shopify's "404.95" USD) as `404.95 USD`."""
    from decimal import Decimal, InvalidOperation

    if isinstance(amount, bool) or not isinstance(amount, int | float | str) or not isinstance(currency, str):
        return None
    try:
        major = Decimal(str(amount))
    except InvalidOperation:
        return None
    code = currency.upper()
    return _amount(major, _EXPONENTS.get(code, 2), code)


def _amount(value: Decimal, exponent: int, code: str) -> str | None:
    if not value.is_finite() or abs(value) >= 10**15:
        return None
    return f"{value:,.{exponent}f} {code}"


def date(value: Any) -> str | None:
    """An RFC 3339 time or epoch seconds (milliseconds above 10^11) as `2025-01-08 10:12 UTC`."""
    moment: datetime | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if abs(value) >= _MILLISECONDS_FROM else value
        try:
            moment = datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    elif isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(_FRACTION.sub(r"\1", value.strip()))
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def full_name(parts: Iterable[Any]) -> str | None:
    """The non-empty parts joined by spaces (a first and a last name, either of which may be missing)."""
    words = [str(part).strip() for part in parts if isinstance(part, str | int) and str(part).strip()]
    return " ".join(words) or None


def humanize(value: Any) -> str | None:
    """The last part of a dotted, slashed or colon-separated name, with spaces for underscores:
    `zen:event-type:ticket.priority_changed` -> `priority changed`."""
    if not isinstance(value, str) or not value:
        return None
    last = re.split(r"[.:/]", value)[-1]
    return last.replace("_", " ").strip() or None


def capitalize(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    return value[0].upper() + value[1:]


# -- the Content ------------------------------------------------------------------------------------


def content(envelope: Mapping[str, Any], card: Card, redaction: Redaction, max_bytes: int, *, fit: bool) -> Content:
    """The Content text of `card` for the event `envelope` names (id, type, source, timestamp).

    Redacted first (so no cut can leave part of a secret), then held to the display limits. Over
    `max_bytes`, a card that may be fitted (a named source's) drops data members, then fields,
    summary and URL, and says `"truncated": true`; one that may not raises ContentTooLarge (413).
    """
    found: list[str] = []
    document: dict[str, Any] = {"version": CONTENT_VERSION, **envelope}
    title = _clip(redaction.apply(card.title, "/title", found), MAX_TITLE)
    document["title"] = title or str(envelope.get("type") or "Event")
    if card.summary and card.summary.strip():
        document["summary"] = _clip(redaction.apply(card.summary, "/summary", found), MAX_SUMMARY)
    url = card.url
    if url and _HTTP_URL.fullmatch(url) and len(url) <= MAX_URL:
        if redaction.mask(url) == url:
            document["url"] = url
        else:
            found.append("/url")  # a link with a secret in it is no link to show
    shown: list[dict[str, str]] = []
    for label, value in card.fields:
        if len(shown) == MAX_FIELDS or not value.strip() or not label.strip():
            continue
        masked = redaction.apply(value, f"/fields/{len(shown)}/value", found)
        shown.append({"label": _clip(label, MAX_LABEL), "value": _clip(masked, MAX_VALUE)})
    if shown:
        document["fields"] = shown
    data = card.data if isinstance(card.data, Mapping) else {} if card.data is None else {"value": card.data}
    document["data"] = safe_integers(redaction.apply(data, "/data", found))
    redacted = tuple(_short_pointer(pointer) for pointer in found[:MAX_REDACTED])
    if redacted:
        document["redacted"] = list(redacted)
    truncated = _fit(document, card.drop, max_bytes) if fit else False
    text = _dumps(document)
    size = len(text.encode("utf-8"))
    if size > max_bytes:
        raise ContentTooLarge(
            f"The message content is {size} bytes; the limit is {max_bytes}.", size=size, limit=max_bytes
        )
    return Content(text, redacted, truncated)


def redacted_in(text: str) -> tuple[str, ...]:
    """The pointers a Content says were redacted (none for text that is not a card)."""
    try:
        document = json.loads(text)
    except ValueError:
        return ()
    if not isinstance(document, dict) or not isinstance(document.get("version"), int):
        return ()
    pointers = document.get("redacted")
    return tuple(p for p in pointers if isinstance(p, str)) if isinstance(pointers, list) else ()


def _fit(document: dict[str, Any], drop: tuple[str, ...], max_bytes: int) -> bool:
    excess = _size(document) - max_bytes
    if excess <= 0:
        return False
    document["truncated"] = True
    data = dict(document["data"])
    # Each member's share of the text, so the card is serialized again only near the limit.
    members = {key: len(_dumps({key: value}).encode("utf-8")) - 1 for key, value in data.items()}
    order = [key for key in drop if key in data]
    order += sorted((key for key in data if key not in order), key=lambda key: -members[key])
    for key in order:
        if excess <= 0:
            document["data"] = data
            excess = _size(document) - max_bytes
            if excess <= 0:
                return True
        del data[key]
        excess -= members[key]
    document["data"] = data
    while _size(document) > max_bytes:
        if document.get("fields"):
            document["fields"].pop()
            if not document["fields"]:
                del document["fields"]
        elif "summary" in document:
            del document["summary"]
        elif "url" in document:
            del document["url"]
        else:
            break
    return True


def _size(document: Mapping[str, Any]) -> int:
    return len(_dumps(document).encode("utf-8"))


def _dumps(document: Any) -> str:
    # Compact, and UTF-8 as is: \u escapes would spend the 10 KB on themselves.
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


def _clip(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _short_pointer(pointer: str) -> str:
    """A pointer within MAX_POINTER characters: its nearest ancestor that fits."""
    while len(pointer) > MAX_POINTER and "/" in pointer:
        pointer = pointer.rsplit("/", 1)[0]
    return pointer[:MAX_POINTER]
