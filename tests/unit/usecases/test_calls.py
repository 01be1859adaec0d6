"""The calls API use case: register, read and remove a key's calls, on the fake registry."""

from __future__ import annotations

import json

import pytest

from bridge.domain.errors import (
    CallMismatch,
    CallNotFound,
    InvalidRequest,
    RegistrationSchemaViolation,
    UnsupportedMediaType,
)
from bridge.usecases.calls import Calls
from unit.fakes import Clock, FakeRegistry

KEY = "identity:alice"
CALL = "CA" + "1" * 32
NEWER = "CA" + "2" * 32
JSON = "application/json"


def calls() -> tuple[Calls, FakeRegistry, Clock]:
    clock = Clock()
    registry = FakeRegistry(clock=clock)
    return Calls(registry, max_call_seconds=4 * 3600), registry, clock


def register(service: Calls, key: str, body: object, content_type: str = JSON) -> object:
    return service.register(key, json.dumps(body).encode(), content_type)


def test_a_registered_call_is_what_the_key_reads_and_a_percent_encoded_key_is_the_same_key() -> None:
    service, _, _ = calls()
    register(service, "identity%3Aalice", {"call_sid": CALL, "ttl_seconds": 600})
    got = service.get(KEY)
    assert (got["key"], got["call_sid"]) == (KEY, CALL)


def test_the_newest_registration_wins_and_every_live_call_is_listed() -> None:
    service, _, clock = calls()
    register(service, KEY, {"call_sid": CALL})
    clock.advance(1)
    register(service, KEY, {"call_sid": NEWER})
    got = service.get(KEY)
    assert got["call_sid"] == NEWER
    assert [call["call_sid"] for call in got["calls"]] == [NEWER, CALL]


@pytest.mark.parametrize(
    ("body", "content_type", "error"),
    [
        ({"call_sid": "CA123"}, JSON, RegistrationSchemaViolation),
        ({"call_sid": CALL, "ttl_seconds": 0}, JSON, RegistrationSchemaViolation),
        ({"call_sid": CALL, "extra": 1}, JSON, RegistrationSchemaViolation),
        ({"call_sid": CALL}, "text/plain", UnsupportedMediaType),
    ],
)
def test_a_malformed_registration_is_refused_and_changes_nothing(
    body: object, content_type: str, error: type[Exception]
) -> None:
    service, registry, _ = calls()
    with pytest.raises(error):
        register(service, KEY, body, content_type)
    assert registry.live_calls(KEY) == []


def test_a_key_with_control_characters_is_refused() -> None:
    service, _, _ = calls()
    with pytest.raises(InvalidRequest):
        register(service, "identity:al\nice", {"call_sid": CALL})


def test_removing_one_call_keeps_the_other_and_removing_all_leaves_none() -> None:
    service, _, clock = calls()
    register(service, KEY, {"call_sid": CALL})
    clock.advance(1)
    register(service, KEY, {"call_sid": NEWER})
    service.remove(KEY, NEWER)
    assert service.get(KEY)["call_sid"] == CALL
    service.remove(KEY, None)
    with pytest.raises(CallNotFound):
        service.get(KEY)


def test_removing_a_call_the_key_is_not_on_is_a_mismatch() -> None:
    service, _, _ = calls()
    register(service, KEY, {"call_sid": CALL})
    with pytest.raises(CallMismatch):
        service.remove(KEY, NEWER)
    with pytest.raises(InvalidRequest):
        service.remove(KEY, "nope")


@pytest.mark.parametrize("raw", [f"%23call:{CALL}", f"#call:{CALL}"])
def test_a_key_naming_an_internal_item_is_refused_and_nothing_is_written(raw: str) -> None:
    service, registry, _ = calls()
    with pytest.raises(InvalidRequest, match="not starting with #"):
        register(service, raw, {"call_sid": NEWER})
    assert registry.states == {}
