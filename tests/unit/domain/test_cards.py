"""The card rules: redaction, the int64 rule, the display limits and the 10 KB fit. Pure logic."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from content_contract import check_content, content_errors
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.domain import cards
from bridge.domain.cards import Card, Redaction
from bridge.domain.errors import ContentTooLarge
from bridge.domain.outcomes import Outcome
from bridge.domain.parking import Undelivered
from bridge.sources.cards import load_cards

ENVELOPE = {"id": "evt_1", "type": "thing.happened", "source": "helpdesk"}
SHIPPED = load_cards().redaction
# Card numbers the card networks publish for testing (Stripe's test cards): Luhn-valid.
VISA, MASTERCARD, AMEX = "4242424242424242", "5555555555554444", "378282246310005"


def render(card: Card, max_bytes: int = 10_240, *, fit: bool = True, redaction: Redaction = SHIPPED) -> dict[str, Any]:
    return check_content(cards.content(ENVELOPE, card, redaction, max_bytes, fit=fit).text)


# -- redaction ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        *("client_secret", "clientSecret", "password", "api_key", "apiKey", "X-Api-Key", "Authorization"),
        *("github_token", "webhook_secret", "access_token", "card_number", "cvc"),
    ],
)
def test_keys_that_name_secrets_are_removed(key: str) -> None:
    content = cards.content(ENVELOPE, Card("t", data={"keep": 1, key: "s3cr3t"}), SHIPPED, 10_240, fit=True)
    document = json.loads(content.text)
    assert document["data"] == {"keep": 1}
    assert "s3cr3t" not in content.text
    assert content.redacted == (f"/data/{key}",) == tuple(document["redacted"])


@pytest.mark.parametrize("key", ["token_type", "tokens", "description", "secretary", "keyboard", "id"])
def test_keys_that_merely_contain_a_secret_word_stay(key: str) -> None:
    assert render(Card("t", data={key: "v"}))["data"] == {key: "v"}


def test_nested_secrets_are_removed_and_their_pointers_escaped() -> None:
    data = {"a/b": {"items": [{"password": "p"}, {"ok": "x"}]}, "m~n": {"token": "t"}}
    document = render(Card("t", data=data))
    assert document["data"] == {"a/b": {"items": [{}, {"ok": "x"}]}, "m~n": {}}
    assert document["redacted"] == ["/data/a~1b/items/0/password", "/data/m~0n/token"]


@pytest.mark.parametrize("number", [VISA, MASTERCARD, AMEX, "4242 4242 4242 4242", "4242-4242-4242-4242"])
def test_card_numbers_in_text_are_masked_to_their_last_four(number: str) -> None:
    document = render(Card(f"Paid with {number} today", data={"note": f"card {number}"}))
    last4 = re.sub(r"\D", "", number)[-4:]
    assert document["title"] == f"Paid with •••• {last4} today"
    assert document["data"]["note"] == f"card •••• {last4}"
    assert document["redacted"] == ["/title", "/data/note"]


@pytest.mark.parametrize(
    "value",
    [
        "4242424242424241",  # fails Luhn
        "8447388090494",  # a Zendesk ID: 13 digits, and no card brand starts with 8
        "123456789012",  # 12 digits: too short
        "42424242424242424242",  # 20 digits: too long
    ],
)
def test_digit_runs_that_are_not_card_numbers_stay(value: str) -> None:
    assert render(Card("t", data={"v": value}))["data"] == {"v": value}


def test_integers_are_never_read_as_card_numbers() -> None:
    # IDs arrive as JSON numbers (Shopify's line item 487817672276298554); card numbers as text.
    assert render(Card("t", data={"v": 4242424242424242}))["data"] == {"v": 4242424242424242}


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("pi_1PgafyB7WZ01zgkWSjxsAJo3_secret_Dm43xiq1k0ywrRRjDoi8y1gkM", "_secret_"),
        ("key sk_live_51H8abcdefghijklmnop here", "sk_live_"),
        ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_"),
        ("token ghp_abcdefghijklmnopqrstuvwxyz0123456789", "ghp_"),
        ("Authorization: Bearer abcdefghijklmnopqrstuvwxyz", "abcdefghijklmnop"),
        ("https://user:hunter2@example.com/path", "hunter2"),
        ("AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
    ],
)
def test_values_that_look_like_secrets_are_masked(text: str, secret: str) -> None:
    document = render(Card("t", data={"v": text}))
    assert secret not in json.dumps(document)
    assert cards.REDACTED in document["data"]["v"]
    assert document["redacted"] == ["/data/v"]


def test_a_url_holding_a_secret_is_not_shown() -> None:
    document = render(Card("t", url="https://x.example/?token=abc&k=sk_test_0123456789abcdef"))
    assert "url" not in document
    assert document["redacted"] == ["/url"]


def test_redaction_comes_before_the_display_limits() -> None:
    # A cut must never leave the first digits of a card number behind.
    title = "x" * (cards.MAX_TITLE - 10) + " " + VISA
    document = render(Card(title))
    assert "42424242" not in document["title"]


def test_the_content_names_at_most_ten_pointers_of_short_length() -> None:
    data = {f"{'k' * 200}{index}": {"password": "p"} for index in range(30)}
    content = cards.content(ENVELOPE, Card("t", data=data), SHIPPED, 10_240, fit=True)
    document = check_content(content.text)
    assert len(document["redacted"]) == cards.MAX_REDACTED == len(content.redacted)
    assert all(len(pointer) <= cards.MAX_POINTER for pointer in document["redacted"])
    assert document["redacted"][0] == "/data"  # the nearest ancestor that fits


def test_the_ledger_records_the_pointers_a_content_names_and_never_the_values() -> None:
    content = cards.content(ENVELOPE, Card("t", data={"password": "hunter2"}), SHIPPED, 10_240, fit=True)
    entry = Undelivered("k", "evt_1", "helpdesk", "identity:a", content.text, 1.0).failed(Outcome.STALE, "d")
    assert entry.redacted == ("/data/password",)
    assert "hunter2" not in json.dumps(entry.as_dict())
    plain = Undelivered("k", "evt_1", "helpdesk", "identity:a", '{"type":"call.message"}', 1.0).failed(
        Outcome.STALE, "d"
    )
    assert plain.redacted is None  # a call message's webhook body is no card: nothing recorded


# -- JavaScript's integers -------------------------------------------------------------------------


def test_integers_beyond_two_to_the_53_are_sent_as_strings() -> None:
    data = {
        "max": 2**53 - 1,
        "over": 2**53,
        "min": -(2**53 - 1),
        "under": -(2**53),
        "shopify": 820982911946154508,
        "nested": [{"id": 115310627314723954}],
        "flag": True,
    }
    document = render(Card("t", data=data))
    assert document["data"] == {
        "max": 2**53 - 1,
        "over": str(2**53),
        "min": -(2**53 - 1),
        "under": str(-(2**53)),
        "shopify": "820982911946154508",
        "nested": [{"id": "115310627314723954"}],
        "flag": True,
    }


def test_the_contract_refuses_an_unsafe_integer() -> None:
    text = json.dumps({"version": 1, "id": "e", "type": "t", "title": "t", "data": {"id": 820982911946154508}})
    assert [error["pointer"] for error in content_errors(text)] == ["/data/id"]


# -- the shape and the display limits ----------------------------------------------------------------


def test_a_card_is_compact_utf8_json_with_its_version_and_envelope() -> None:
    card = Card("Café au lait", summary="s", url="https://example.com/a", fields=(("Status", "open"),), data={"n": 1})
    text = cards.content(ENVELOPE, card, SHIPPED, 10_240, fit=True).text
    assert json.loads(text) == {
        "version": 1,
        **ENVELOPE,
        "title": "Café au lait",
        "summary": "s",
        "url": "https://example.com/a",
        "fields": [{"label": "Status", "value": "open"}],
        "data": {"n": 1},
    }
    assert "Café" in text
    assert ", " not in text


def test_long_texts_are_cut_with_an_ellipsis_and_fields_are_at_most_twelve() -> None:
    fields = tuple((f"L{index}" + "l" * 100, "v" * 1000) for index in range(20))
    document = render(Card("T" * 1000, summary="S" * 1000, fields=fields))
    assert len(document["title"]) == cards.MAX_TITLE
    assert document["title"].endswith("…")
    assert len(document["summary"]) == cards.MAX_SUMMARY
    assert len(document["fields"]) == cards.MAX_FIELDS
    assert {len(f["label"]) for f in document["fields"]} == {cards.MAX_LABEL}
    assert {len(f["value"]) for f in document["fields"]} == {cards.MAX_VALUE}


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "ftp://example.com/x", "//example.com", "https://a b", 'https://a"b', "https://é.fr"]
)
def test_only_http_urls_are_kept(url: str) -> None:
    assert "url" not in render(Card("t", url=url))


def test_a_blank_title_falls_back_to_the_type_and_blank_fields_are_left_out() -> None:
    document = render(Card("   ", fields=(("Empty", "  "), ("Kept", "x"))))
    assert document["title"] == "thing.happened"
    assert document["fields"] == [{"label": "Kept", "value": "x"}]


def test_data_that_is_not_an_object_is_wrapped() -> None:
    assert render(Card("t", data=[1, 2]))["data"] == {"value": [1, 2]}
    assert render(Card("t", data=None))["data"] == {}


# -- the 10 KB limit --------------------------------------------------------------------------------


def big(size: int) -> str:
    return "x" * size


def test_a_named_source_drops_data_by_its_declared_priority_and_says_truncated() -> None:
    data = {"keep": "small", "body": big(8000), "diff": big(3000), "other": big(100)}
    content = cards.content(ENVELOPE, Card("t", data=data, drop=("body", "other")), SHIPPED, 10_240, fit=True)
    document = check_content(content.text)
    # body goes first (declared), and that is enough: other, though declared, stays
    assert set(document["data"]) == {"keep", "diff", "other"}
    assert document["truncated"] is True
    assert content.truncated


def test_past_the_declared_members_the_largest_go_first() -> None:
    data = {"a": big(4000), "b": big(5000), "c": big(3000), "d": "small"}
    document = render(Card("t", data=data, drop=("d",)), max_bytes=8_000)
    assert set(document["data"]) == {"a", "c"}  # d (declared) then b (largest) went
    assert document["truncated"] is True


def test_when_data_is_not_enough_fields_summary_and_url_go_too() -> None:
    card = Card("t", summary="s" * 400, url="https://example.com/" + "p" * 1000, fields=(("L", "v" * 300),) * 12)
    document = render(card, max_bytes=1_200)
    assert document["title"] == "t"
    assert document["truncated"] is True
    assert len(json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()) <= 1_200


def test_a_card_within_the_limit_is_left_whole() -> None:
    document = render(Card("t", data={"a": big(100)}, drop=("a",)))
    assert "truncated" not in document
    assert document["data"] == {"a": big(100)}


def test_the_default_source_is_refused_for_size_not_cut() -> None:
    card = Card("t", data={"a": big(20_000)})
    with pytest.raises(ContentTooLarge) as raised:
        cards.content(ENVELOPE, card, SHIPPED, 10_240, fit=False)
    assert raised.value.status == 413
    assert raised.value.extensions["limit"] == 10_240
    assert raised.value.extensions["size"] > 20_000


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=300),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=30), inner, max_size=6),
    max_leaves=60,
)


@settings(max_examples=150, deadline=None)
@given(
    title=st.text(min_size=1, max_size=400),
    summary=st.none() | st.text(max_size=900),
    url=st.none() | st.builds("https://{}".format, st.text(max_size=60)),
    fields=st.lists(st.tuples(st.text(min_size=1, max_size=80), st.text(max_size=500)), max_size=15),
    data=st.dictionaries(st.text(max_size=40), _json, max_size=12),
    limit=st.integers(min_value=1_500, max_value=10_240),
)
def test_any_named_card_fits_the_limit_and_keeps_the_contract(
    title: str, summary: str | None, url: str | None, fields: list[tuple[str, str]], data: dict[str, Any], limit: int
) -> None:
    content = cards.content(ENVELOPE, Card(title, summary, url, tuple(fields), data), SHIPPED, limit, fit=True)
    assert len(content.text.encode("utf-8")) <= limit
    document = check_content(content.text)
    assert document["title"].strip()


# -- formatters -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (2000, "usd", "20.00 USD"),
        (1099, "eur", "10.99 EUR"),
        (123456789, "usd", "1,234,567.89 USD"),
        (500, "jpy", "500 JPY"),  # zero-decimal
        (1234, "kwd", "1.234 KWD"),  # three-decimal
        (-250, "usd", "-2.50 USD"),
        ("2000", "usd", "20.00 USD"),
        (None, "usd", None),
        (12.5, "usd", None),
        (True, "usd", None),
        (2000, None, None),
    ],
)
def test_money_reads_minor_units(amount: Any, currency: Any, expected: str | None) -> None:
    assert cards.money(amount, currency) == expected


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [("404.95", "USD", "404.95 USD"), ("1000", "usd", "1,000.00 USD"), (3, "JPY", "3 JPY"), ("x", "USD", None)],
)
def test_price_reads_major_units(amount: Any, currency: Any, expected: str | None) -> None:
    assert cards.price(amount, currency) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-01-08T10:12:07.672717030Z", "2025-01-08 10:12 UTC"),
        ("2021-12-31T19:00:00-05:00", "2022-01-01 00:00 UTC"),
        (1462216307945, "2016-05-02 19:11 UTC"),  # HubSpot's milliseconds
        (1719492875, "2024-06-27 12:54 UTC"),
        ("yesterday", None),
        (None, None),
    ],
)
def test_date_reads_rfc3339_and_epoch_times(value: Any, expected: str | None) -> None:
    assert cards.date(value) == expected


def test_names_and_words() -> None:
    assert cards.full_name(["John", None, "Smith"]) == "John Smith"
    assert cards.full_name([None, ""]) is None
    assert cards.humanize("zen:event-type:ticket.priority_changed") == "priority changed"
    assert cards.humanize("orders/create") == "create"
    assert cards.capitalize("admin") == "Admin"


def test_luhn_matches_the_published_check_digits() -> None:
    assert all(cards.luhn_valid(number) for number in (VISA, MASTERCARD, AMEX, "79927398713"))
    assert not cards.luhn_valid("79927398710")


def test_the_contract_refuses_the_content_of_before_cards() -> None:
    # What the bridge posted before version 1: no version, no title
    errors = content_errors('{"id":"e","type":"t","data":{}}')
    assert {error["message"] for error in errors} == {
        "'version' is a required property",
        "'title' is a required property",
    }
