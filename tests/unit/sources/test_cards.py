"""Card specs (sources/cards.json): the template language, loading, and each source's card for its
providers' published payloads (tests/fixtures/). Pure logic: no sockets."""

from __future__ import annotations

import copy
import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from content_contract import check_content

from bridge.domain.errors import ConfigurationError, ContentTooLarge
from bridge.domain.events import Event
from bridge.sources.cards import Text, _template, content_for, load_cards, parse_cards
from bridge.sources.profiles import load_profiles

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
SHIPPED = json.loads((resources.files("bridge.sources") / "cards.json").read_text(encoding="utf-8"))


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def event_of(source: str, body: Any, headers: dict[str, str] | None = None) -> Event:
    extracted = load_profiles()[source].extract(headers or {}, body)
    assert isinstance(extracted, Event), extracted
    return extracted


def card_of(source: str, body: Any, headers: dict[str, str] | None = None, limit: int = 10_240) -> dict[str, Any]:
    return check_content(content_for(event_of(source, body, headers), limit).text)


def github(name: str, event: str) -> dict[str, Any]:
    return card_of("github", fixture(f"github/{name}.json"), {"x-github-event": event, "x-github-delivery": "d-1"})


def stripe_payment() -> dict[str, Any]:
    body = fixture("stripe/payment_intent.created.json")
    body["data"]["object"]["metadata"] = {"identity": "alice"}  # the recipient, as an integrator adds it
    return body


SHOPIFY_HEADERS = {"x-shopify-topic": "orders/create", "x-shopify-webhook-id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"}


def fill(template: str, document: dict[str, Any]) -> str | None:
    return Text((_template("test", template),)).render(document)


# -- the template language --------------------------------------------------------------------------


def test_templates_mix_literal_text_and_expressions() -> None:
    document = {"body": {"n": 7, "t": "Fix it", "ok": True, "tags": ["a", "b"], "f": 2.5, "whole": 3.0}}
    assert fill("#${body.n} ${body.t}", document) == "#7 Fix it"
    assert fill("${body.ok} ${body.tags} ${body.f} ${body.whole}", document) == "yes a, b 2.5 3"
    assert fill("no placeholders", document) == "no placeholders"


def test_a_template_with_a_missing_value_yields_nothing_and_the_next_alternative_wins() -> None:
    text = Text((_template("t", "#${body.n}: ${body.title}"), _template("t", "#${body.n}")))
    assert text.render({"body": {"n": 1}}) == "#1"
    assert text.render({"body": {"n": 1, "title": "x"}}) == "#1: x"
    assert text.render({"body": {"n": 1, "title": "  "}}) == "#1"  # blank counts as missing
    assert text.render({"body": {}}) is None


def test_placeholders_may_hold_braces_and_quoted_braces() -> None:
    document = {"body": {"a": "x", "b": "y"}}
    assert fill("${ {k: body.a}.k }-${join('}', [body.a, body.b])}", document) == "x-x}y"
    assert fill('${`"}"`}', document) == "}"


def test_objects_render_as_nothing() -> None:
    assert fill("${body}", {"body": {"a": 1}}) is None


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("${money(body.cents, 'usd')}", "20.00 USD"),
        ("${price(body.total, 'USD')}", "404.95 USD"),
        ("${date(body.at)}", "2016-05-02 19:11 UTC"),
        ("${name(body.first, body.missing, body.last)}", "John Smith"),
        ("${capitalize(humanize(body.type))}", "Priority changed"),
        ("${split(body.topic, '.')[1]}", "admin"),
        ("${json(body.attributes).from}", "+15558675310"),
    ],
)
def test_the_named_functions(template: str, expected: str) -> None:
    body = {
        "cents": 2000,
        "total": "404.95",
        "at": 1462216307945,
        "first": "John",
        "last": "Smith",
        "type": "zen:event-type:ticket.priority_changed",
        "topic": "conversation.admin.assigned",
        "attributes": '{"from": "+15558675310"}',
    }
    assert fill(template, {"body": body}) == expected


def test_json_of_text_that_is_not_json_or_too_deep_is_nothing() -> None:
    assert fill("${json(body.a).x}", {"body": {"a": "not json"}}) is None
    assert fill("${json(body.a)}", {"body": {"a": "[" * 100 + "]" * 100}}) is None


# -- loading cards.json -----------------------------------------------------------------------------


def spec_with(**card: Any) -> dict[str, Any]:
    return {"redact": {"keys": ["password"]}, "sources": {"helpdesk": {"*": {"title": "t", **card}}}}


@pytest.mark.parametrize(
    ("document", "names"),
    [
        (spec_with(title="${body.a"), "helpdesk.*.title"),
        (spec_with(title="${body..a}"), "helpdesk.*.title"),
        (spec_with(fields=[{"label": "L", "value": "${[}"}]), "helpdesk.*.fields[0]"),
        (spec_with(data="{a: }"), "helpdesk.*.data"),
        (spec_with(colour="red"), "colour"),
        ({"redact": {"keys": ["password"], "patterns": {"broken": "("}}, "sources": {}}, "redact.patterns.broken"),
        ({"redact": {"keys": ["Not Snake"]}, "sources": {}}, "/redact/keys/0"),
    ],
)
def test_a_bad_spec_fails_loudly_naming_the_problem(document: dict[str, Any], names: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        parse_cards(document)
    assert names in raised.value.detail


def test_the_shipped_specs_load_and_cover_every_forwarded_type_of_every_profile() -> None:
    cards = load_cards()
    sources = json.loads((resources.files("bridge.sources") / "sources.json").read_text(encoding="utf-8"))
    assert set(cards.sources) == {"default", *sources["sources"]}
    for name, profile in sources["sources"].items():
        # A type for each pattern the profile forwards (orders/* -> orders/x); Stripe forwards all.
        for pattern in profile.get("forward", ["*"]):
            sample = pattern.replace("*", "x")
            assert cards.spec_for(name, sample) is not None, f"{name} forwards {pattern} but has no card for it"
    assert cards.spec_for("default", "crm.customer.identified") is not None


def test_an_exact_type_beats_a_pattern_and_patterns_match_in_the_order_written() -> None:
    document = {
        "redact": {"keys": []},
        "sources": {
            "s": {"a.*": {"title": "first"}, "*": {"title": "any"}, "a.b": {"title": "exact"}, "a.c*": {"title": "x"}}
        },
    }
    cards = parse_cards(document)
    assert [cards.spec_for("s", t).title.render({}) for t in ("a.b", "a.c", "z")] == ["exact", "first", "any"]
    assert cards.spec_for("other", "a.b") is None


def test_an_event_without_a_card_shows_its_type_and_the_profiles_data() -> None:
    event = Event("e1", "thing.done", None, "k", {"n": 1}, {}, source="elsewhere")
    document = check_content(content_for(event, 10_240).text)
    assert (document["title"], document["data"], document["source"]) == ("thing.done", {"n": 1}, "elsewhere")


# -- the default source (the bridge's own envelope) ---------------------------------------------------


def envelope(**extra: Any) -> dict[str, Any]:
    return {"type": "crm.customer.identified", "timestamp": "2026-11-28T10:00:00Z", "to": "identity:alice", **extra}


def test_the_envelope_may_carry_its_own_title_and_summary() -> None:
    body = envelope(data={"customer_id": "cus_1", "name": "Ada"}, title="Ada is calling", summary="Gold tier")
    document = card_of("default", body, {"webhook-id": "evt_1"})
    assert (document["title"], document["summary"]) == ("Ada is calling", "Gold tier")
    assert document["data"] == {"customer_id": "cus_1", "name": "Ada"}
    assert "source" not in document


def test_the_envelope_is_redacted_too() -> None:
    body = envelope(data={"customer_id": "cus_1", "name": "Ada", "password": "hunter2"})
    content = content_for(event_of("default", body, {"webhook-id": "evt_1"}), 10_240)
    assert "hunter2" not in content.text
    assert content.redacted == ("/data/password",)


def test_an_envelope_over_the_limit_is_a_413_not_a_cut() -> None:
    body = envelope(type="helpdesk.note", data={"note": "x" * 11_000})
    with pytest.raises(ContentTooLarge):
        content_for(event_of("default", body, {"webhook-id": "evt_1"}), 10_240)


# -- each provider's published payload --------------------------------------------------------------


def test_github_pull_request_card_is_titled_by_the_pull_request() -> None:
    payload = fixture("github/pull_request.json")
    document = github("pull_request", "pull_request")
    assert payload["pull_request"]["title"] in document["title"]
    assert document["title"] == f"#{payload['number']} {payload['pull_request']['title']}"
    assert document["url"] == payload["pull_request"]["html_url"]
    assert {"label": "Branch", "value": "changes → master"} in document["fields"]


def test_a_28_kb_github_payload_becomes_a_card_under_10_kb_with_a_title() -> None:
    raw = (FIXTURES / "github/pull_request.json").read_bytes()
    assert len(raw) > 27_000
    text = content_for(
        event_of("github", json.loads(raw), {"x-github-event": "pull_request", "x-github-delivery": "d-1"}), 10_240
    ).text
    assert len(text.encode("utf-8")) < 10_240
    assert check_content(text)["title"]


@pytest.mark.parametrize(
    ("name", "event", "title"),
    [
        ("issues", "issues", "#1 Spelling error in the README file"),
        ("issue_comment", "issue_comment", "#1 Spelling error in the README file"),
        ("push", "push", "Codertocat/Hello-World: 0 commits pushed to refs/tags/simple-tag"),
        ("workflow_run", "workflow_run", "test #163: success"),
    ],
)
def test_github_examples_become_cards(name: str, event: str, title: str) -> None:
    document = github(name, event)
    assert document["title"] == title
    assert document["data"]["sender"] == "Codertocat"


def test_a_github_pull_request_with_a_huge_description_is_delivered_without_it() -> None:
    payload = fixture("github/pull_request.json")
    payload["pull_request"]["body"] = "word " * 4_000
    content = content_for(
        event_of("github", payload, {"x-github-event": "pull_request", "x-github-delivery": "d-1"}), 10_240
    )
    document = check_content(content.text)
    assert document["truncated"] is True
    assert content.truncated
    assert "body" not in document["data"]
    assert document["data"]["number"] == payload["number"]


def test_stripe_card_is_formatted_and_carries_no_client_secret() -> None:
    body = stripe_payment()
    assert "_secret_" in json.dumps(body)  # Stripe's own fixture holds one
    content = content_for(event_of("stripe", body), 10_240)
    document = check_content(content.text)
    assert document["title"] == "Payment created: 10.99 USD"
    assert {"label": "Status", "value": "requires payment method"} in document["fields"]
    assert document["url"] == "https://dashboard.stripe.com/test/payments/pi_1PgafyB7WZ01zgkWSjxsAJo3"
    assert "client_secret" not in content.text
    assert "_secret_" not in content.text


def test_a_stripe_spec_that_forwards_the_raw_object_is_still_redacted() -> None:
    document = copy.deepcopy(SHIPPED)
    document["sources"]["stripe"] = {"*": {"title": "raw", "data": "body.data.object"}}
    event = event_of("stripe", stripe_payment())
    content = parse_cards(document).content(event, 10_240)
    secret = event.data["client_secret"]
    assert secret not in content.text
    assert "_secret_" not in content.text
    assert "client_secret" not in check_content(content.text)["data"]
    # The Content names what it left out (the key, a pointer), never the value
    assert content.redacted == ("/data/client_secret",)


def test_zendesk_ticket_card() -> None:
    document = card_of("zendesk", fixture("zendesk/ticket.created.json"))
    assert document["title"] == "Ticket #5158: ticketinfo_2294a6e9ece2"
    assert document["summary"] == "Ticket created"
    shown = {field["label"]: field["value"] for field in document["fields"]}
    assert (shown["Status"], shown["Priority"], shown["Requester"]) == ("OPEN", "LOW", "8447388090494")


def test_zendesk_changes_say_from_what_to_what() -> None:
    body = fixture("zendesk/ticket.created.json")
    body["type"], body["event"] = "zen:event-type:ticket.priority_changed", {"current": "HIGH", "previous": "LOW"}
    assert card_of("zendesk", body)["summary"] == "Priority changed: LOW → HIGH"


def test_hubspot_property_change_card() -> None:
    document = card_of("hubspot", fixture("hubspot/contact.propertyChange.json"))
    assert document["title"] == "Contact 1246965: lifecyclestage changed"
    assert document["summary"] == "lifecyclestage is now subscriber"
    assert document["data"]["property"] == "lifecyclestage"


def test_intercom_conversation_card() -> None:
    document = card_of("intercom", fixture("intercom/conversation.admin.assigned.json"))
    assert document["title"] == "Conversation 405"  # Intercom's example has no title or subject
    assert document["summary"] == "Admin assigned the conversation"
    shown = {field["label"]: field["value"] for field in document["fields"]}
    assert (shown["Assignee"], shown["From"]) == ("991267615", "Ciaran193 Lee")


def test_shopify_order_card_sends_int64_ids_as_strings() -> None:
    document = card_of("shopify", fixture("shopify/orders.create.json"), SHOPIFY_HEADERS)
    assert document["title"] == "Order #9999: 404.95 USD"
    assert document["data"]["id"] == "820982911946154508"
    assert document["data"]["customer"] == "115310627314723954"
    assert document["data"]["items"][0]["id"] == "487817672276298554"
    assert {"label": "Customer", "value": "John Smith"} in document["fields"]


def test_twilio_reservation_card_reads_the_task_attributes() -> None:
    document = card_of("twilio", fixture("twilio/reservation.created.json"))
    assert document["title"] == "Reservation created: Ada Lovelace"
    assert document["summary"] == "+15558675310 → +15551234567"
    assert document["data"]["attributes"]["call_sid"] == "CA0000000000000000000000000000001"


def test_the_shipped_cards_json_holds_to_its_schema() -> None:
    # The layer loads it unchecked (a cold-start cost): this is where a malformed spec fails.
    from importlib import resources

    document = json.loads((resources.files("bridge.sources") / "cards.json").read_text(encoding="utf-8"))
    parse_cards(document, validate=True)
