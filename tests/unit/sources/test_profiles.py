"""Source profiles: the shipped file loads, and a bad profile stops the function with a clear message."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.domain.errors import ConfigurationError, SchemaViolation
from bridge.domain.events import Event
from bridge.sources.profiles import Ignored, load_profiles, parse_profiles


def profiles(**sources: Any) -> dict[str, Any]:
    return {"sources": sources}


def test_shipped_profiles_load() -> None:
    loaded = load_profiles()
    assert {"github", "stripe", "zendesk", "hubspot", "intercom", "shopify", "twilio"} <= set(loaded)
    assert loaded["github"].scheme == "github"
    assert loaded["twilio"].scheme == "twilio"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (profiles(shop={"scheme": "shopify", "to": "body.x"}), "/sources/shop/scheme"),
        (profiles(shop={"scheme": "github"}), "'to' is a required property"),
        (
            profiles(shop={"scheme": "hmac", "to": "body.x", "event_id": "body.id", "type": "body.t"}),
            "'hmac' is a required property",
        ),
        (profiles(default={"scheme": "github", "to": "body.x"}), "default"),
        (profiles(shop={"scheme": "github", "to": "body.x", "extra": 1}), "extra"),
        (profiles(shop={"scheme": "github", "to": "join('', ["}), "shop.to is not valid JMESPath"),
        (profiles(shop={"scheme": "github", "to": "body.x", "schema": "missing.schema.json"}), "missing.schema.json"),
        ({"source": {}}, "'sources' is a required property"),
    ],
)
def test_bad_profile_is_refused_with_a_message_that_names_it(document: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=r"sources\.json") as raised:
        parse_profiles(document)
    assert message in str(raised.value)


def test_scheme_defaults_apply_and_profile_expressions_override_them() -> None:
    loaded = parse_profiles(profiles(shop={"scheme": "stripe", "to": "body.account", "type": "body.kind"}))
    event = loaded["shop"].extract(
        {}, {"id": "evt_1", "kind": "order.paid", "account": "acct:7", "created": 0, "data": {"object": {}}}
    )
    assert (event.id, event.type, event.to, event.timestamp) == (
        "evt_1",
        "order.paid",
        "acct:7",
        "1970-01-01T00:00:00Z",
    )
    assert event.key == "shop:evt_1"


def test_hmac_profile_extracts_from_headers_and_body() -> None:
    loaded = parse_profiles(
        profiles(
            helpdesk={
                "scheme": "hmac",
                "hmac": {"header": "X-Signature", "timestamp_header": "X-Timestamp"},
                "event_id": 'headers."x-request-id"',
                "type": "body.event",
                "to": "join('', ['agent:', body.ticket.assignee])",
                "data": "body.ticket",
            }
        )
    )
    event = loaded["helpdesk"].extract(
        {"x-request-id": "r-1"}, {"event": "ticket.updated", "ticket": {"assignee": "bo"}}
    )
    assert (event.id, event.to, event.data) == ("r-1", "agent:bo", {"assignee": "bo"})
    assert event.timestamp is None


@pytest.mark.parametrize("body", [{"sender": {}}, {"sender": {"login": 7}}, {}, [], "text"])
def test_a_named_source_delivery_that_names_no_one_is_ignored(body: Any) -> None:
    # Given a GitHub delivery whose `to` finds no login
    # When it is read
    read = load_profiles()["github"].extract({"x-github-delivery": "d", "x-github-event": "push"}, body)

    # Then it is acknowledged as concerning no one, not refused
    assert isinstance(read, Ignored)
    assert (read.reason, read.event_id, read.type, read.source) == ("no_recipient", "d", "push", "github")


def test_a_recipient_key_too_long_is_still_a_schema_violation() -> None:
    with pytest.raises(SchemaViolation):
        load_profiles()["github"].extract(
            {"x-github-delivery": "d", "x-github-event": "push"}, {"sender": {"login": "x" * 300}}
        )


def test_a_profile_may_reject_deliveries_without_a_recipient() -> None:
    loaded = parse_profiles(profiles(shop={"scheme": "github", "to": "body.agent", "no_recipient": "reject"}))
    with pytest.raises(SchemaViolation, match="could not read"):
        loaded["shop"].extract({"x-github-delivery": "d", "x-github-event": "push"}, {})


def test_github_ping_is_always_ignored_even_when_forwarded() -> None:
    # Given a profile that forwards every type, and GitHub's ping (it has a sender)
    loaded = parse_profiles(profiles(gh={"scheme": "github", "to": "join('', ['identity:', body.sender.login])"}))
    ping = {"zen": "Design for failure.", "hook_id": 1, "sender": {"login": "octocat"}}

    # When it is read
    read = loaded["gh"].extract({"x-github-delivery": "d", "x-github-event": "ping"}, ping)

    # Then it is ignored as a ping
    assert isinstance(read, Ignored)
    assert read.reason == "ping"


@pytest.mark.parametrize(
    ("event_type", "forwarded"),
    [("orders/create", True), ("orders/paid", True), ("customers/update", True), ("app/uninstalled", False)],
)
def test_forward_lists_names_and_glob_patterns(event_type: str, forwarded: bool) -> None:
    loaded = parse_profiles(
        profiles(shop={"scheme": "github", "to": "body.to", "forward": ["orders/*", "customers/update"]})
    )
    read = loaded["shop"].extract({"x-github-delivery": "d", "x-github-event": event_type}, {"to": "identity:a"})
    assert isinstance(read, Event) is forwarded
    if not forwarded:
        assert isinstance(read, Ignored)
        assert read.reason == "type_not_forwarded"


def test_the_default_source_still_must_name_its_recipient() -> None:
    assert load_profiles()["default"].no_recipient == "reject"
    assert all(profile.no_recipient == "ignore" for name, profile in load_profiles().items() if name != "default")


def test_millisecond_epochs_are_read_as_milliseconds() -> None:
    # HubSpot's occurredAt is in milliseconds
    loaded = parse_profiles(profiles(s={"scheme": "stripe", "to": "body.to", "timestamp": "body.at"}))
    event = loaded["s"].extract({}, {"id": "e", "type": "t", "to": "k", "at": 1795860000123, "data": {"object": {}}})
    assert isinstance(event, Event)
    assert event.timestamp == "2026-11-28T10:00:00.123000Z"


def test_hmac_signed_parts_need_a_timestamp_header_when_they_name_the_timestamp() -> None:
    document = profiles(
        s={
            "scheme": "hmac",
            "hmac": {"header": "X-Sig", "signed": ["timestamp", "body"]},
            "event_id": "body.id",
            "type": "body.t",
            "to": "body.to",
        }
    )
    with pytest.raises(ConfigurationError, match="timestamp_header"):
        parse_profiles(document)


def test_a_form_reads_the_same_in_any_spelling_and_a_repeated_field_is_refused() -> None:
    from bridge.domain.errors import MalformedBody
    from bridge.sources.profiles import canonical_form

    assert canonical_form(b"A=1&B=x+y") == canonical_form(b"B=x%20y&%41=%31") == {"A": "1", "B": "x y"}
    with pytest.raises(MalformedBody, match="repeated"):
        canonical_form(b"A=1&A=2")
