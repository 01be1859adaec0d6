"""Phone numbers as recipient keys: E.164 from what Twilio and people write, withheld caller IDs,
and the mask people see in logs and the operations CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.domain.phones import (
    is_withheld,
    mask_key,
    mask_phone,
    mask_phones,
    masked,
    normalise_phone,
    phone_key,
)

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("text", "region", "expected"),
    [
        # Twilio's own form, as its callbacks carry it
        ("+15551234567", None, "+15551234567"),
        ("  +442079460958 ", None, "+442079460958"),
        # As people write them: separators, a national trunk prefix, an RFC 3966 URI, an extension
        ("+1 (555) 123-4567", None, "+15551234567"),
        ("+44 (0)20 7946 0958", None, "+442079460958"),
        ("tel:+1-555-123-4567", None, "+15551234567"),
        ("+1 202 555 0142 ext. 89", None, "+12025550142"),
        # National forms need the region they are dialled in
        ("(555) 123-4567", "US", "+15551234567"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("0044 20 7946 0958", "GB", "+442079460958"),
    ],
)
def test_numbers_become_e164(text: str, region: str | None, expected: str) -> None:
    assert normalise_phone(text, region) == expected


@pytest.mark.parametrize(
    ("text", "region"),
    [
        ("(555) 123-4567", None),  # national, and no region to read it in
        ("555-1234", "US"),  # a local number without its area code
        ("+1 555 123", None),  # too short for its country
        ("+999 1234 5678", None),  # no such country code
        ("", None),
        ("   ", None),
        ("client:bob", None),
        ("sip:bob@example.com", None),
        ("not a number", "US"),
    ],
)
def test_what_is_not_a_usable_number_gives_none(text: str, region: str | None) -> None:
    assert normalise_phone(text, region) is None


@pytest.mark.parametrize(
    "text",
    ["anonymous", "Anonymous", "RESTRICTED", "unavailable", "unknown", "blocked", "private", "+266696687", "+2562533"],
)
def test_withheld_caller_ids_are_no_number(text: str) -> None:
    # Twilio passes a withheld caller ID as the word, or (before 2022) spelt on a keypad
    assert is_withheld(text)
    assert normalise_phone(text) is None
    assert phone_key(text) is None


def test_keypad_spellings_are_derived_from_the_words() -> None:
    # +266696687 is ANONYMOUS on a phone keypad, +7378742833 RESTRICTED, +86282452253 UNAVAILABLE
    assert {normalise_phone(n) for n in ("+7378742833", "+86282452253", "+8656696")} == {None}
    assert not is_withheld("+15551234567")


def test_phone_key_prefixes_the_e164_number() -> None:
    assert phone_key("+1 (555) 123-4567") == "phone:+15551234567"
    assert phone_key("client:bob") is None


@pytest.mark.parametrize(
    ("number", "shown"),
    [
        ("+15551234567", "+1555•••4567"),
        ("+442079460958", "+4420•••0958"),
        ("+123456789012345", "+1234•••2345"),
        ("+2567654321", "+256•••4321"),
        ("+2901234", "+29•••34"),  # short numbers still hide three digits
        ("5551234567", "•••"),  # not E.164: hidden whole
        ("(555) 123-4567", "•••"),
    ],
)
def test_mask_shows_at_most_four_digits_at_each_end(number: str, shown: str) -> None:
    assert mask_phone(number) == shown


def test_mask_key_masks_only_phone_keys() -> None:
    assert mask_key("phone:+15551234567") == "phone:+1555•••4567"
    assert mask_key("phone:(555) 123-4567") == "phone:•••"
    assert mask_key("identity:alice") == "identity:alice"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("No call is registered for phone:+15551234567.", "No call is registered for phone:+1555•••4567."),
        ("caller +1 (555) 123-4567 rang", "caller +1555•••4567 rang"),
        ('"to": "phone:555 1234"', '"to": "phone:•••"'),
        ("phone:(555) 123-4567 has no active call.", "phone:••• has no active call."),
        ("(phone:+15551234567)", "(phone:+1555•••4567)"),
        ("phone:+15551234567 2 calls", "phone:+1555•••4567 2 calls"),
        ("key phone:oops, then", "key phone:•••, then"),
        ("bad +15551234567", "bad +1555•••4567"),
    ],
)
def test_numbers_in_text_are_masked(text: str, expected: str) -> None:
    assert mask_phones(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-28T10:00:00+00:00",  # time zones start with 0
        "2026-12-05 11:40:36,992+0000",
        "CA15551234567890abcdef0123456789ab",  # digits inside a SID carry no plus
        "a+b=c, +12345",  # too short to be a number
        "identity:alice",
    ],
)
def test_text_without_numbers_is_left_alone(text: str) -> None:
    assert mask_phones(text) == text


def test_masked_walks_a_log_record() -> None:
    record = {
        "recipient": "phone:+15551234567",
        "detail": ["to phone:+442079460958", {"key": "phone:(555) 123 4567"}],
        "attempts": 2,
        "active_call": None,
    }
    assert masked(record) == {
        "recipient": "phone:+1555•••4567",
        "detail": ["to phone:+4420•••0958", {"key": "phone:•••"}],
        "attempts": 2,
        "active_call": None,
    }


def test_masked_shows_other_objects_as_their_masked_text() -> None:
    assert masked({"value": ValueError("no call for +15551234567"), "ok": True}) == {
        "value": "no call for +1555•••4567",
        "ok": True,
    }


def test_a_callbacks_e164_number_is_read_without_loading_libphonenumber() -> None:
    # The status callback function handles every call; the ~25 ms import is for free-form text only
    probe = """
import sys
from bridge.usecases.call_status import target
from bridge.domain.inbound import FormParams
from bridge.observability import logger
legs = {"CallSid": ["CA" + "c" * 32], "ParentCallSid": ["CA" + "a" * 32]}
found = target(FormParams({**legs, "To": ["client:bob"], "From": ["+15551234567"]}), {})
logger.info("call registered", recipient=found.phone)
assert found.phone == "phone:+15551234567", found
print("phonenumbers" in sys.modules)
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "layers/bridge")}
    done = subprocess.run(  # noqa: S603 - this interpreter, this repository's modules
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.splitlines()[-1] == "False", done.stdout


def test_masking_what_is_masked_already_changes_nothing() -> None:
    from bridge.domain.phones import mask_key, mask_phones

    once = mask_phones('{"recipient": "phone:+15556234880", "from": "+15556234880"}')
    assert mask_phones(once) == once
    assert mask_key(mask_key("phone:+15556234880")) == "phone:+1555•••4880"
