"""The freshness rule: which call an event may reach, and the event time it is judged by."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.domain.freshness import event_time, latest_call_start, rfc3339
from bridge.sources.schemas import validator_for
from local.senders import new_webhook_secret

SECRET = new_webhook_secret()
KEY = "identity:alice"
HOUR = 3600


@pytest.mark.parametrize(
    ("occurred", "hold", "started", "fits"),
    [
        (1000, 0, 900, True),  # the call was live when the event happened
        (1000, 0, 1030, True),  # it started within the skew
        (1000, 0, 1031, False),
        (1000, 300, 1330, True),  # within the hold window, plus the skew
        (1000, 300, 1331, False),
    ],
)
def test_a_call_fits_when_it_started_by_event_time_plus_hold_plus_skew(
    occurred: float, hold: int, started: float, fits: bool
) -> None:
    assert (started <= latest_call_start(occurred, hold, 30)) is fits


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2026-11-28T10:00:00Z", 1795860000.0), ("2026-11-28T11:00:00+01:00", 1795860000.0), ("yesterday", None)],
)
def test_event_time_reads_rfc3339(text: str, expected: float | None) -> None:
    assert event_time(text) == expected
    assert event_time("2026-11-28T10:00:00") is None  # no offset: no instant
    assert event_time(None) is None


@pytest.mark.parametrize(
    "text",
    ["2026-11-28T10:00:00z", "2026-11-28t10:00:00Z", "2026-11-28t10:00:00z", "2026-11-28T10:00:00.000000000Z"],
)
def test_rfc3339_lets_t_and_z_be_lower_case_and_fractions_be_long(text: str) -> None:
    assert event_time(text) == 1795860000.0


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-28 10:00:00Z",  # ISO 8601's space: not RFC 3339's date-time
        "2026-11-28T10:00:00,5Z",
        "2026-11-28T10:00Z",
        "20261128T100000Z",
        "2026-11-28",
        "2026-11-28T10:00:00Z\n",
        "2026-11-28T10:00:60Z",
        "2026-02-30T10:00:00Z",
        "2026-11-28T10:00:00+24:00",
        "\u0662\u0660\u0662\u0666-11-28T10:00:00Z",
        "2026-11-28T10:00:00\uff0b01:00",
    ],
)
def test_rfc3339_refuses_what_is_not_an_rfc_3339_date_time(text: str) -> None:
    assert rfc3339(text) is None


ENVELOPE = validator_for("envelope.schema.json")


def schema_accepts(timestamp: str) -> bool:
    document = {"type": "t", "timestamp": timestamp, "to": "identity:alice", "data": {}}
    return ENVELOPE.is_valid(document)


date_times = st.builds(
    lambda date, sep, time_, fraction, zone: f"{date}{sep}{time_}{fraction}{zone}",
    st.sampled_from(["2026-11-28", "2024-02-29", "2026-02-29", "0000-01-01", "9999-12-31", "2026-1-28"])
    | st.just("\u0662\u0660\u0662\u0666-11-28"),
    st.sampled_from(["T", "t", " ", "_", ""]),
    st.sampled_from(["10:00:00", "23:59:59", "23:59:60", "24:00:00", "10:00", "1\uff10:00:00"]),
    st.sampled_from(["", ".5", ".123456789", ",5", "."]),
    st.sampled_from(["Z", "z", "+01:00", "-00:00", "+23:59", "+24:00", "+0100", "", "Z\n", " Z"]),
)


@settings(max_examples=500, deadline=None)
@given(text=st.one_of(date_times, st.text(max_size=40)))
def test_the_schema_accepts_as_date_time_exactly_what_freshness_reads(text: str) -> None:
    assert schema_accepts(text) is (event_time(text) is not None)
