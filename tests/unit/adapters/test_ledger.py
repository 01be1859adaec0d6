"""Ledger items as the operator's listing reads them: an entry, or a malformed item named apart."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from bridge.adapters.dynamodb.codec import to_item
from bridge.adapters.dynamodb.ledger import _read
from bridge.domain.outcomes import Outcome
from bridge.domain.parking import LedgerEntry, MalformedEntry, Undelivered

ENTRY = Undelivered("evt_1", "evt_1", "default", "identity:alice", "{}", 1_800_000_000.0).failed(
    Outcome.STALE, "too old", now=1_800_000_060.0
)


def item(**changes: Any) -> dict[str, Any]:
    values = {**dataclasses.asdict(ENTRY), "kind": "failed", "expires_at": 1_900_000_000, **changes}
    return to_item(values)


def test_an_item_the_bridge_wrote_reads_back_as_its_entry() -> None:
    assert _read(item()) == ENTRY
    assert ENTRY.problems() == []


def test_an_item_missing_fields_is_malformed_and_names_them() -> None:
    read = _read(to_item({"event_key": "evt_2", "kind": "failed", "failed_at": 1_800_000_000}))
    assert isinstance(read, MalformedEntry)
    assert read.event_key == "evt_2"
    assert "content" in read.problem


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [("content", 42, "content is not text"), ("attempts", "three", "attempts is not a number")],
)
def test_an_item_with_a_field_of_the_wrong_kind_is_malformed(field: str, value: object, problem: str) -> None:
    read = _read(item(**{field: value}))
    assert read == MalformedEntry("evt_1", problem)


def test_optional_fields_may_be_absent() -> None:
    read = _read(item(replayed_at=None, twilio_code=None))
    assert isinstance(read, LedgerEntry)
