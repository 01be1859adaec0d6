"""Phone numbers as recipient keys: `phone:+<E.164 digits>`, how text becomes one, and how a number
is shown where people read it (logs, the operations CLI): masked, as `+1555•••4567`.

A phone number is personal data: docs/call-registry.md (Privacy) says where the bridge keeps one and
for how long; logs show it only through `masked`.
"""

from __future__ import annotations

import re
from typing import Any

PHONE_PREFIX = "phone:"
MASK = "•••"

# E.164: a plus, a country code that doesn't start with 0, at most 15 digits in all. Twilio reports
# PSTN parties in exactly this form; 7 digits is the shortest real international number.
E164 = re.compile(r"^\+[1-9]\d{6,14}$")

# Withheld caller IDs: since 2022 Twilio passes the word itself (`anonymous`); before, and on some
# routes still, it spelt the word on a keypad (+266696687 is ANONYMOUS).
WITHHELD_WORDS = ("anonymous", "restricted", "unavailable", "unknown", "blocked", "private")
_KEYPAD = str.maketrans("abcdefghijklmnopqrstuvwxyz", "22233344455566677778889999")
WITHHELD_NUMBERS = frozenset("+" + word.translate(_KEYPAD) for word in WITHHELD_WORDS)


def is_withheld(text: str) -> bool:
    """A caller who withheld their number: no number to key anything by."""
    plain = text.strip()
    return plain.lower() in WITHHELD_WORDS or plain in WITHHELD_NUMBERS


def normalise_phone(text: str, default_region: str | None = None) -> str | None:
    """The number in `text` as E.164 (`+15551234567`), or None for no usable number.

    Text already in E.164 (what Twilio's callbacks carry) is taken as it is, without parsing. Other
    text (`(555) 123-4567`, `+44 (0)20 7946 0958`, `tel:+1-555-123-4567`) is parsed with Google's
    libphonenumber; without a leading `+` it needs `default_region` (ISO 3166 alpha-2, `US`). A number
    must be possible for its country by length; whether its range is allocated is not asked, since
    that changes between library releases and a key must not. An extension is dropped. Withheld caller
    IDs, SIP and client addresses, and anything else give None.
    """
    plain = text.strip()
    if not plain or is_withheld(plain):
        return None
    if E164.fullmatch(plain):
        return plain
    if ":" in plain and not plain.lower().startswith("tel:"):
        return None  # client:, sip: and other addresses are not numbers
    # Imported here: it costs ~25 ms of a cold start, and only free-form text needs it.
    import phonenumbers

    try:
        number = phonenumbers.parse(plain, default_region)
    except phonenumbers.NumberParseException:
        return None
    if phonenumbers.is_possible_number_with_reason(number) != phonenumbers.ValidationResult.IS_POSSIBLE:
        return None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return e164 if E164.fullmatch(e164) and e164 not in WITHHELD_NUMBERS else None


def phone_key(text: str, default_region: str | None = None) -> str | None:
    """The recipient key of the number in `text` (`phone:+15551234567`), or None."""
    number = normalise_phone(text, default_region)
    return PHONE_PREFIX + number if number else None


def is_phone_key(key: str) -> bool:
    return key.startswith(PHONE_PREFIX)


def mask_phone(number: str) -> str:
    """`+15551234567` -> `+1555•••4567`: at most four digits shown at each end, at least three hidden;
    anything that isn't E.164 is hidden whole; what is masked already stays as it is."""
    if MASK in number:
        return number
    if not E164.fullmatch(number):
        return MASK
    digits = number[1:]
    head = min(4, (len(digits) - 3) // 2)
    tail = min(4, len(digits) - 3 - head)
    return "+" + digits[:head] + MASK + digits[len(digits) - tail :]


def mask_key(key: str) -> str:
    """A recipient key as people may see it: a phone key's number masked, any other key as it is."""
    return PHONE_PREFIX + mask_phone(key[len(PHONE_PREFIX) :]) if is_phone_key(key) else key


# In text: an E.164 number, with the separators people write; and a phone key's value: its E.164
# number, or else its first word and the groups of digits that follow it (`phone:(555) 123-4567`).
_IN_TEXT = re.compile(
    r"(?<![\d+])(?P<number>\+[1-9](?:[ ().-]{0,2}\d){6,14})(?!\d)"
    r"|phone:(?P<value>\+[1-9]\d{6,14}(?!\d)|[^\s\"']+(?:\s+[\d(][\d().-]*)*)"
)
_TRAILING = ".,;:!?)]"


def _masked_match(match: re.Match[str]) -> str:
    if match["number"] is not None:
        return mask_phone("+" + re.sub(r"\D", "", match["number"]))
    value = match["value"]
    core = value.rstrip(_TRAILING)
    return PHONE_PREFIX + mask_phone(core) + value[len(core) :]


def mask_phones(text: str) -> str:
    """Every phone number and phone key in `text` masked."""
    if "+" not in text and PHONE_PREFIX not in text:
        return text
    return _IN_TEXT.sub(_masked_match, text)


def masked(value: Any) -> Any:
    """A log record's value with every phone number in it masked, inside lists and mappings too.
    Other objects (an exception) become their text, as a JSON log line shows them."""
    if isinstance(value, str):
        return mask_phones(value)
    if isinstance(value, dict):
        return {name: masked(item) for name, item in value.items()}
    if isinstance(value, list | tuple):
        return [masked(item) for item in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return masked(str(value))
