"""Parsing, schema validation and Content building: pure logic, no sockets."""

from __future__ import annotations

import json

import pytest

from bridge.domain.errors import ContentTooLarge, MalformedBody, SchemaViolation
from bridge.domain.events import Event
from bridge.domain.limits import parse_limited_json as parse_json
from bridge.sources.cards import content_for
from bridge.sources.profiles import default_profile


def parse_event(event_id: str, document: object) -> Event:
    """The default source reading its own envelope, as /events does after the signature check."""
    return default_profile().extract({"webhook-id": event_id}, document)


def envelope(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "type": "helpdesk.ticket.opened",
        "timestamp": "2026-11-28T09:30:00+01:00",
        "to": "identity:alice",
        "data": {"ticket": 42},
    }
    body.update(overrides)
    return body


def violations(document: object) -> list[dict[str, str]]:
    with pytest.raises(SchemaViolation) as raised:
        parse_event("evt_1", document)
    errors: list[dict[str, str]] = raised.value.extensions["errors"]
    return errors


def test_valid_envelope_becomes_an_event() -> None:
    event = parse_event("evt_1", envelope())
    assert (event.id, event.type, event.to, event.data) == (
        "evt_1",
        "helpdesk.ticket.opened",
        "identity:alice",
        {"ticket": 42},
    )


def test_content_is_compact_json_with_the_event_id_and_without_the_recipient() -> None:
    event = parse_event("evt_1", envelope(data={"note": "café"}))
    content = content_for(event, 10_240).text
    assert json.loads(content) == {
        "version": 1,
        "id": "evt_1",
        "type": "helpdesk.ticket.opened",
        "timestamp": "2026-11-28T09:30:00+01:00",
        "title": "helpdesk.ticket.opened",
        "data": {"note": "café"},
    }
    assert " " not in content.replace("helpdesk", "")
    assert "café" in content  # UTF-8 as is, not \\u escapes that would inflate the size


@pytest.mark.parametrize("timestamp", ["2026-11-28", "28/11/2026 10:00", "2026-11-28T25:00:00Z", "now"])
def test_timestamp_must_be_rfc3339(timestamp: str) -> None:
    assert [e["pointer"] for e in violations(envelope(timestamp=timestamp))] == ["/timestamp"]


@pytest.mark.parametrize("to", ["", "x" * 257, 7, None])
def test_recipient_is_one_to_256_characters(to: object) -> None:
    assert [e["pointer"] for e in violations(envelope(to=to))] == ["/to"]


@pytest.mark.parametrize("to", ["#call:CA" + "0" * 32, "#"])
def test_recipient_starting_with_a_hash_is_reserved(to: str) -> None:
    assert [e["pointer"] for e in violations(envelope(to=to))] == ["/to"]


def test_recipient_of_exactly_256_characters_is_fine() -> None:
    assert parse_event("e", envelope(to="x" * 256)).to == "x" * 256


@pytest.mark.parametrize("event_type", ["../../etc/passwd", "a b", "", "x" * 129])
def test_type_is_a_plain_name(event_type: str) -> None:
    assert [e["pointer"] for e in violations(envelope(type=event_type))] == ["/type"]


def test_unknown_envelope_fields_are_refused() -> None:
    [error] = violations(envelope(tenant="acme"))
    assert error["pointer"] == ""
    assert "tenant" in error["message"]


def test_top_level_must_be_an_object() -> None:
    assert violations([1, 2])[0]["pointer"] == ""


def test_pointer_escapes_slash_and_tilde() -> None:
    errors = violations(envelope(type="crm.customer.identified", data={"customer_id": 1, "name": "n"}))
    assert errors == [{"pointer": "/data/customer_id", "message": "1 is not of type 'string'"}]
    # A key with / and ~ in a data schema violation is escaped per RFC 6901
    from jsonschema import Draft202012Validator

    from bridge.sources.schemas import schema_errors

    validator = Draft202012Validator({"additionalProperties": {"type": "string"}})
    assert schema_errors(validator, {"a/b~c": 1})[0]["pointer"] == "/a~1b~0c"


def test_long_messages_are_truncated() -> None:
    [error] = violations(envelope(to="y" * 5000))
    assert len(error["message"]) <= 300


def test_parse_json_refuses_non_json_constants_and_bad_utf8() -> None:
    for raw in (b'{"a": NaN}', b'{"a": Infinity}', b"\xff\xfe", b"", b"{"):
        with pytest.raises(MalformedBody):
            parse_json(raw)


def test_content_at_the_limit_passes_and_one_byte_more_is_413() -> None:
    event = parse_event("e", envelope())
    size = len(content_for(event, 10_240).text.encode())
    assert content_for(event, size).text == content_for(event, 10_240).text
    with pytest.raises(ContentTooLarge) as raised:
        content_for(event, size - 1)
    assert raised.value.extensions == {"size": size, "limit": size - 1}


def test_size_counts_utf8_bytes_not_characters() -> None:
    event = parse_event("e", envelope(data={"t": "€" * 100}))
    characters = len(content_for(event, 10_240).text)
    with pytest.raises(ContentTooLarge):
        content_for(event, characters)


def test_every_shipped_schema_is_a_valid_draft_2020_12_schema() -> None:
    # The runtime loads schemas unchecked (a cold-start cost): this is where a malformed one fails.
    from importlib import resources

    from jsonschema import Draft202012Validator

    folder = resources.files("bridge") / "schemas"
    shipped = [entry for entry in folder.iterdir() if entry.name.endswith(".schema.json")]
    for sub in ("types", "sources"):
        if (folder / sub).is_dir():
            shipped += [entry for entry in (folder / sub).iterdir() if entry.name.endswith(".schema.json")]

    assert any(entry.name == "envelope.schema.json" for entry in shipped)
    for entry in shipped:
        Draft202012Validator.check_schema(json.loads(entry.read_text(encoding="utf-8")))


@pytest.mark.parametrize(
    ("fmt", "good", "bad"),
    [
        ("uri", ["https://example.com/a?b=c#d", "urn:isbn:0451450523"], ["not a uri", "/relative", "https://x\n"]),
        ("uri-reference", ["/relative/path", "https://example.com/"], ["https://exa mple.com", "a\n"]),
    ],
)
def test_uri_formats_are_checked_as_rfc_3986_says(fmt: str, good: list[str], bad: list[str]) -> None:
    from bridge.sources.schemas import schema_errors, strict_validator

    validator = strict_validator({"type": "string", "format": fmt})
    assert [value for value in good if schema_errors(validator, value)] == []
    assert [value for value in bad if not schema_errors(validator, value)] == []


def test_a_types_uri_field_is_checked() -> None:
    customer = {"customer_id": "cus_42", "name": "Ada"}
    document = envelope(type="crm.customer.identified", data={**customer, "profile_url": "no uri here"})
    assert [error["pointer"] for error in violations(document)] == ["/data/profile_url"]
    data = {**customer, "profile_url": "https://crm.example/c/42"}
    assert parse_event("evt_1", envelope(type="crm.customer.identified", data=data)).type == "crm.customer.identified"


def test_the_uri_grammar_is_compiled_at_the_first_uri_checked_not_at_import() -> None:
    import subprocess
    import sys

    script = """
import sys
from bridge.sources.schemas import schema_errors, strict_validator
before = "rfc3986_validator" in sys.modules
errors = schema_errors(strict_validator({"format": "uri"}), "not a uri")
print(before, "rfc3986_validator" in sys.modules, len(errors))
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env=_env())  # noqa: S603 - our interpreter, our script
    assert run.stdout.split() == ["False", "True", "1"]


def _env() -> dict[str, str]:
    """This process's environment, with its import path: the child imports what the test did."""
    import os
    import sys

    return {**os.environ, "PYTHONPATH": os.pathsep.join(path for path in sys.path if path)}
