"""Recipient keys: what may name a recipient, and that none names one of the bridge's own items."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.domain.call_message import owner_item_key
from bridge.domain.errors import InvalidRequest
from bridge.domain.keys import is_recipient_key, recipient_key


@pytest.mark.parametrize("key", ["identity:alice", "client:bob", "agent#7", "x", "é" * 256])
def test_opaque_keys_are_recipient_keys(key: str) -> None:
    assert is_recipient_key(key)
    assert recipient_key(key) == key


@pytest.mark.parametrize(
    "key", ["", "a" * 257, "identity:alice\n", "identity:\udc80", "#call:CA" + "0" * 32, "#", "#anything"]
)
def test_what_is_not_a_recipient_key(key: str) -> None:
    assert not is_recipient_key(key)


@pytest.mark.parametrize("raw", ["%23call:CA" + "0" * 32, "#call:CA" + "0" * 32, "%23"])
def test_a_path_key_naming_an_internal_item_is_refused_with_the_rule(raw: str) -> None:
    with pytest.raises(InvalidRequest, match="not starting with #"):
        recipient_key(raw)


@given(st.text(max_size=80))
def test_no_owner_item_is_ever_a_recipient_key(call_sid: str) -> None:
    assert not is_recipient_key(owner_item_key(call_sid))


def test_plain_text_is_exactly_what_has_no_control_or_surrogate_code_point() -> None:
    import sys
    import unicodedata

    from bridge.domain.keys import is_plain_text

    # Every code point, against Unicode's own categories (the definition the regex stands in for).
    wrong = [
        hex(point)
        for point in range(sys.maxunicode + 1)
        if is_plain_text(chr(point)) == (unicodedata.category(chr(point)) in ("Cc", "Cs"))
    ]
    assert wrong == []
    assert is_plain_text("evt_42 ✓ 電話")
    assert not is_plain_text("evt\n42")
    assert not is_plain_text("a\ud800")
