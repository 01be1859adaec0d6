"""Source profiles: the shipped file loads, and a bad profile stops the function with a clear message."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.errors import ConfigurationError, SchemaViolation
from bridge.sources import load_profiles, parse_profiles


def profiles(**sources: Any) -> dict[str, Any]:
    return {"sources": sources}


def test_shipped_profiles_load() -> None:
    loaded = load_profiles()
    assert {"github", "stripe"} <= set(loaded)
    assert loaded["github"].scheme == "github"


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


@pytest.mark.parametrize(
    "body", [{"sender": {}}, {"sender": {"login": 7}}, {}, [], "text", {"sender": {"login": "x" * 300}}]
)
def test_no_recipient_is_a_schema_violation_not_a_crash(body: Any) -> None:
    with pytest.raises(SchemaViolation):
        load_profiles()["github"].extract({"x-github-delivery": "d", "x-github-event": "push"}, body)
