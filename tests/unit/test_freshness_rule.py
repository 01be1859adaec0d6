"""The freshness rule, and the ingest use case's decisions with it, on in-memory stand-ins."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from helpers import rfc3339

from bridge.ingest import Freshness, IngestService
from bridge.model import ActiveCall, HttpRequest, LedgerEntry, SentMessage, event_time, latest_call_start
from bridge.sources import load_profiles
from local.lambda_runtime import LocalContext
from local.senders import github_headers, new_webhook_secret
from local.senders import standard_webhooks_headers as sign

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


@dataclass
class OneCall:
    call: ActiveCall | None

    def active_call(self, key: str) -> ActiveCall | None:
        return self.call


@dataclass
class Recorder:
    sent: list[str] = field(default_factory=list)
    ledger: list[LedgerEntry] = field(default_factory=list)

    def send(self, recipient: str, call_sid: str, content: str, key: str, deadline: Any) -> SentMessage:
        self.sent.append(key)
        return SentMessage("KX1", call_sid)

    def record(self, entry: LedgerEntry) -> None:
        self.ledger.append(entry)


@dataclass
class FirstSeen:
    at: float
    asked: list[str] = field(default_factory=list)

    def first_seen(self, event_key: str) -> float:
        self.asked.append(event_key)
        return self.at


class PassThroughGate:
    def run(self, key: str, body: Any, function: Any, context: Any) -> tuple[dict[str, Any], bool]:
        return function(), False


def service(call: ActiveCall | None, recorder: Recorder, sightings: FirstSeen | None = None) -> IngestService:
    return IngestService(
        secrets=lambda: {"default": (SECRET,), "github": ("gh",)},
        profiles=load_profiles(),
        registry=OneCall(call),  # type: ignore[arg-type]
        dispatcher=recorder,
        idempotency=PassThroughGate(),  # type: ignore[arg-type]
        max_content_bytes=10_240,
        ledger=recorder,  # type: ignore[arg-type]
        freshness=Freshness(sightings=sightings),  # type: ignore[arg-type]
    )


def post(svc: IngestService, occurred: float) -> dict[str, Any]:
    raw = json.dumps({"type": "t", "timestamp": rfc3339(occurred), "to": KEY, "data": {}})
    return svc.handle(HttpRequest(raw.encode(), sign(raw, SECRET, event_id="evt_1")), LocalContext("Ingest")).body


def test_an_event_older_than_the_call_and_its_window_is_stale_and_ledgered() -> None:
    recorder = Recorder()
    call = ActiveCall(KEY, "CA1", 0, started=time.time() - 60)
    body = post(service(call, recorder), time.time() - 2 * HOUR)
    assert body["status"] == "stale"
    assert recorder.sent == []
    [entry] = recorder.ledger
    assert (entry.reason, entry.event_key, entry.recipient) == ("stale", "evt_1", KEY)


def test_a_call_of_unknown_start_is_trusted() -> None:
    recorder = Recorder()
    body = post(service(ActiveCall(KEY, "CA1", 0), recorder), time.time() - 2 * HOUR)
    assert body["status"] == "delivered"


def test_without_an_event_time_the_first_sighting_is_the_event_time() -> None:
    # Given a GitHub delivery (no event time) the bridge first saw two hours ago
    recorder, sightings = Recorder(), FirstSeen(time.time() - 2 * HOUR)
    call = ActiveCall("identity:octocat", "CA1", 0, started=time.time() - 60)
    raw = json.dumps({"action": "opened", "sender": {"login": "octocat"}, "repository": {"full_name": "o/r"}})
    headers = github_headers(raw, "gh", delivery="d-1")

    # When it is redelivered to a sender now on a newer call
    svc = service(call, recorder, sightings)
    body = svc.handle(HttpRequest(raw.encode(), headers), LocalContext("Ingest"), "github").body

    # Then it is stale, judged by when its signed body was first seen (GitHub signs no timestamp, so
    # the body, not the unsigned delivery ID, is the event: see the replay rule)
    assert body["status"] == "stale"
    assert sightings.asked == ["github:sha256:" + hashlib.sha256(raw.encode()).hexdigest()]


def test_an_event_with_its_own_time_never_asks_when_it_was_first_seen() -> None:
    recorder, sightings = Recorder(), FirstSeen(0)
    post(service(ActiveCall(KEY, "CA1", 0, started=time.time() - 60), recorder, sightings), time.time())
    assert sightings.asked == []
    assert recorder.sent == ["evt_1"]
