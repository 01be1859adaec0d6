"""The burst bench's arithmetic, with hand-computed expectations: the plan, the tally of what became of
each event, Twilio's throughput per slot, and the capacity model's concurrency, slots and prices.
Pure functions, no stack."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from bench.burst import capacity, plan, report, tally

# -- the plan -----------------------------------------------------------------------------------------


def test_the_plan_offers_its_events_in_time_order_with_the_shares_asked() -> None:
    events = plan.plan(2000, 60.0, 50, no_one=0.1, duplicates=0.2, seed=7)

    assert len(events) == 2000
    assert [event.at for event in events] == sorted(event.at for event in events)
    assert all(0 <= event.at < 60 for event in events)
    no_one = [event for event in events if event.kind == plan.NO_ONE]
    assert 150 < len(no_one) < 250  # 10% of 2,000, within chance
    assert all(event.recipient is None and event.source == "stripe" for event in no_one)
    live = [event for event in events if event.kind == plan.LIVE]
    assert {event.recipient for event in live} <= set(plan.recipients(50))
    twice = [event for event in events if event.duplicate_at is not None]
    assert 330 < len(twice) < 470  # 20%
    assert all(0 <= event.duplicate_at - event.at <= plan.DUPLICATE_WITHIN_SECONDS for event in twice)  # type: ignore[operator]
    assert len({event.event_id for event in events}) == 2000


def test_the_same_seed_plans_the_same_burst_and_another_seed_another() -> None:
    assert plan.plan(100, 10, 5, no_one=0.1, duplicates=0.1, seed=1) == plan.plan(
        100, 10, 5, no_one=0.1, duplicates=0.1, seed=1
    )
    ids = {event.event_id for event in plan.plan(100, 10, 5, no_one=0.1, duplicates=0.1, seed=2)}
    assert ids.isdisjoint(event.event_id for event in plan.plan(100, 10, 5, no_one=0.1, duplicates=0.1, seed=1))


def test_svix_retry_schedule_is_compressed_and_cut_to_the_attempts() -> None:
    # 5 s, 5 min, 30 min divided by 60; the first attempt is not a retry
    assert plan.retry_delays(60, 4) == pytest.approx([5 / 60, 5.0, 30.0])
    assert plan.retry_delays(1, 1) == []
    with pytest.raises(ValueError, match="compression"):
        plan.retry_delays(0, 3)


# -- the tally ----------------------------------------------------------------------------------------

CALLS = {"identity:a": "CA1", "identity:b": "CA2"}


def planned(index: int, kind: str = plan.LIVE, recipient: str | None = "identity:a") -> dict[str, Any]:
    return {
        "index": index,
        "kind": kind,
        "event_id": f"evt_{index}",
        "recipient": recipient if kind == plan.LIVE else None,
        "at": float(index),
        "duplicate_at": None,
    }


def attempt(index: int, start: float, status: int, outcome: str, **extra: Any) -> dict[str, Any]:
    return {
        "i": index,
        "copy": 0,
        "attempt": 1,
        "start": start,
        "end": start + 0.1,
        "status": status,
        "outcome": outcome,
        **extra,
    }


def message(index: int, call_sid: str, created_at: float) -> dict[str, Any]:
    return {"content": json.dumps({"id": f"evt_{index}"}), "call_sid": call_sid, "created_at": created_at}


def a_burst() -> tally.Burst:
    """Seven events, each meeting a different fate (t is seconds after the burst began at 1000)."""
    return tally.Burst(
        plan=[planned(0), planned(1), planned(2), planned(3), planned(4), planned(5, plan.NO_ONE), planned(6)],
        attempts=[
            # 0: refused once, then delivered in the request; its sender sent it again (a duplicate)
            attempt(0, 1000.0, 503, "twilio_unavailable"),
            {**attempt(0, 1001.0, 200, "delivered"), "attempt": 2},
            {**attempt(0, 1001.5, 200, "delivered", replayed=True), "copy": 1},
            # 1: parked until 1010, delivered at 1005 by the flusher
            attempt(1, 1001.0, 202, "parked", expires_at=1010),
            # 2: parked until 1003, delivered at 1004: late
            attempt(2, 1002.0, 202, "parked", expires_at=1003),
            # 3: stale, in the ledger
            attempt(3, 1003.0, 200, "stale"),
            # 4: parked, then nothing: lost
            attempt(4, 1004.0, 202, "parked", expires_at=1100),
            # 5: concerns no one
            attempt(5, 1005.0, 200, "ignored"),
            # 6: never accepted: a throttled invocation, then no answer at all
            attempt(6, 1006.0, 500, "Internal Server Error"),
            {**attempt(6, 1007.0, 0, "ReadTimeout"), "attempt": 2},
        ],
        messages=[
            message(0, "CA1", 1001.05),
            message(0, "CA1", 1001.6),  # a second message of one event on one call
            message(1, "CA2", 1005.0),  # on the wrong call
            message(2, "CA1", 1004.0),
            {"content": json.dumps({"id": "evt_elsewhere"}), "call_sid": "CA1", "created_at": 1002.0},
        ],
        ledger=[{"event_id": "evt_3", "reason": "stale"}],
        parked=[],
        calls=CALLS,
        started=1000.0,
        seconds=10.0,
        twilio_limit=2,
        twilio_ms=400.0,
    )


def test_every_event_gets_the_fate_the_definitions_give_it() -> None:
    found = tally.tally(a_burst())

    assert (found["events"], found["live_events"], found["no_one_events"]) == (7, 6, 1)
    assert found["accepted"] == 5  # 0, 1, 2, 3 and 4
    assert found["ignored"] == 1
    assert found["gave_up"] == 1  # 6
    assert found["delivered"] == 3  # 0, 1, 2
    assert found["delivered_in_request"] == 1  # 0
    assert found["duplicates_at_twilio"] == 1
    assert found["misdelivered"] == 1
    assert found["foreign_udms"] == 1
    assert found["ledgered"] == {"stale": 1}
    assert found["lost"] == 1
    assert found["lost_examples"] == ["evt_4"]
    assert found["late"] == 1
    assert found["still_parked"] == 0


def test_an_event_still_parked_at_the_end_is_not_lost() -> None:
    burst = a_burst()
    burst.parked = [{"event_id": "evt_4"}]

    found = tally.tally(burst)

    assert (found["lost"], found["still_parked"]) == (0, 1)


def test_what_the_senders_saw_is_counted_per_answer_class_and_kind_of_send() -> None:
    found = tally.tally(a_burst())

    assert found["answers"] == {
        "0 ReadTimeout": 1,
        "200 delivered": 2,
        "200 ignored": 1,
        "200 stale": 1,
        "202 parked": 3,
        "500 Internal Server Error": 1,
        "503 twilio_unavailable": 1,
    }
    assert found["answer_classes"] == {"2xx": 7, "4xx": 0, "5xx": 2, "none": 1}
    assert found["sends"] == {"first": 7, "duplicates": 1, "retries": 2}
    assert (found["sender_5xx"], found["no_answer"]) == (2, 1)


def test_time_to_the_udm_runs_from_the_accepted_send_and_from_the_first_send() -> None:
    found = tally.tally(a_burst())

    # accepted send -> first message: 0: 1001.0 -> 1001.05; 1: 1001 -> 1005; 2: 1002 -> 1004
    assert found["accept_to_udm_ms"]["count"] == 3
    assert found["accept_to_udm_ms"]["p50"] == pytest.approx(2000.0)
    assert found["accept_to_udm_ms"]["max"] == pytest.approx(4000.0)
    # first send -> first message: 0 was first sent at 1000.0
    assert found["offer_to_udm_ms"]["max"] == pytest.approx(4000.0)
    assert sorted(found["offer_to_udm_ms"].values())[0] == 3  # the count


def test_twilio_throughput_over_the_burst_and_in_its_busiest_window() -> None:
    # 6 messages in the first 10 s (one before the burst, one after it), the busiest 2 s holding 3
    created = [999.0, 1000.0, 1000.5, 1001.0, 1004.0, 1008.0, 1009.0, 1012.0]
    found = tally.udm_throughput(created, started=1000.0, seconds=10.0, window=2.0)

    assert found["sustained_per_second"] == pytest.approx(0.6)
    assert found["busiest_per_second"] == pytest.approx(1.5)


def test_a_slot_carries_one_request_per_round_trip_at_most() -> None:
    found = tally.per_slot(4.0, limit=2, twilio_ms=400.0)

    assert found["per_slot_per_second"] == pytest.approx(2.0)
    assert found["slot_max_per_second"] == pytest.approx(2.5)
    assert found["slot_use"] == pytest.approx(0.8)


def test_offered_load_is_littles_law_over_the_limit() -> None:
    # 50 events/s x 0.4 s = 20 requests' worth in flight, against a limit of 2
    assert tally.offered_load(3000, 60.0, 400.0, 2) == pytest.approx(10.0)


# -- capacity -----------------------------------------------------------------------------------------


def test_headroom_covers_poisson_peaks() -> None:
    assert capacity.headroom(0) == 0
    assert capacity.headroom(4) == 10  # 4 + 3 x 2
    assert capacity.headroom(100) == 130


def test_http_api_requests_cost_less_past_300_million_a_month() -> None:
    assert capacity.http_api_price(1e6) == pytest.approx(1.00)
    assert capacity.http_api_price(300e6) == pytest.approx(1.00)
    assert capacity.http_api_price(600e6) == pytest.approx(0.95)  # half at $1.00, half at $0.90


CALIBRATION = {
    "events": 200,
    "sends": 200,
    "delivered": 200,
    "memory_mb": 1024,
    "functions": {"IngestFunction": {"busy_seconds": 40.0, "invocations": 200}},
    "operations": {
        "DynamoDB_20120810.GetItem": 200,
        "DynamoDB_20120810.PutItem": 200,
        "DynamoDB_20120810.UpdateItem": 200,
        "DynamoDBStreams_20120810.GetRecords": 50,
        "secretsmanager.GetSecretValue": 4,
    },
}


def test_one_event_as_the_calibration_measured_it() -> None:
    unit = capacity.per_event(CALIBRATION)

    assert unit["seconds"] == {"IngestFunction": pytest.approx(0.2)}
    assert (unit["wru"], unit["rru"], unit["udms"], unit["requests"], unit["invocations"]) == (2.0, 1.0, 1.0, 1.0, 1.0)


def test_cost_per_million_from_the_measured_event() -> None:
    cost = capacity.cost_per_million(capacity.per_event(CALIBRATION), rate=10)

    # 0.2 s at 1 GB; 2 WRU and 1 RRU; one request and one invocation
    assert cost["lambda_duration"] == pytest.approx(0.2 * 0.0000133334 * 1e6)
    assert cost["dynamodb"] == pytest.approx(2 * 0.625 + 0.125)
    assert cost["http_api"] == pytest.approx(1.00)
    assert cost["lambda_requests"] == pytest.approx(0.20)
    assert cost["total"] == pytest.approx(sum(v for k, v in cost.items() if k != "total"))


def test_what_a_rate_needs_and_the_settings_it_changes() -> None:
    unit = capacity.per_event(CALIBRATION)

    slow = capacity.at_rate(unit, 10, route_limit=100, per_slot=5.0)
    fast = capacity.at_rate(unit, 1000, route_limit=100, per_slot=5.0)

    # 10/s x 0.2 s = 2 in flight -> 2 + 3 x sqrt(2) = 6.24 -> 7; Twilio: 10 x 0.15 = 1.5 -> 5.17 -> 6
    assert (slow["ingest_reserved"], slow["twilio_slots"]) == (7, 6)
    assert not any("ThrottlingRateLimit" in setting for setting in slow["settings"])
    # 1,000/s x 0.2 s = 200 -> 243; 2,000 WRU/s stays under a new table's 4,000
    assert fast["ingest_reserved"] == 243
    assert "the API's ThrottlingRateLimit >= 1000" in fast["settings"]
    assert not any("warm throughput" in setting for setting in fast["settings"])
    assert fast["cost"]["http_api"] < slow["cost"]["http_api"]  # 2.6 billion requests a month


def test_past_the_accounts_lambda_quota_the_settings_ask_for_more() -> None:
    heavy = {**CALIBRATION, "functions": {"IngestFunction": {"busy_seconds": 200.0, "invocations": 200}}}

    found = capacity.at_rate(capacity.per_event(heavy), 1000, route_limit=100, per_slot=math.nan)

    assert found["ingest_reserved"] == 1095  # 1,000 + 3 x sqrt(1,000)
    assert "a Lambda concurrency quota of at least 1195" in found["settings"]


# -- the goals ----------------------------------------------------------------------------------------


def test_the_goals_say_which_were_met() -> None:
    run = {
        "figures": {**tally.tally(a_burst()), "sender_5xx": 0, "lost": 0, "late": 0},
        "load": {"offered_x": 10.0},
        "wall_seconds": 299.0,
    }

    met = dict(report.goals(run))

    assert met["offered load at least 10x the Twilio limit (10.0x)"] is True
    assert met["0 duplicates at Twilio (1)"] is False
    assert met["0 sender-visible 5xx (0)"] is True
    assert met["every accepted event delivered in its window or in the ledger"] is True
    assert met["the run within 5 minutes (299 s)"] is True


def test_the_default_burst_and_the_quick_one_offer_ten_times_the_limit() -> None:
    from bench.burst.options import parse_args

    for argv in ([], ["--quick"]):
        args = parse_args(argv)
        assert tally.offered_load(args.events, args.seconds, args.twilio_ms, args.twilio_limit) >= 10.0, argv
