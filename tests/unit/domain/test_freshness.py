"""The freshness rule: which call an event may reach, and the event time it is judged by."""

from __future__ import annotations

import pytest

from bridge.domain.freshness import event_time, latest_call_start
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
