"""The bench's report maths, with hand-computed expectations: the memory model, the cost per size,
the recommended memory size, SnapStart's break-even and issue 24's targets. Pure functions, no stack."""

from __future__ import annotations

import math
from typing import Any

import pytest

from bench import cost_model, snapstart_pricing, summaries

# -- the memory model ---------------------------------------------------------------------------------


def test_cpu_stretches_below_one_vcpu_and_not_above() -> None:
    assert cost_model.stretch(1769) == 1.0
    assert cost_model.stretch(3538) == 1.0  # more than one vCPU does not make one thread faster
    assert cost_model.stretch(512) == pytest.approx(3.455078125)  # 1769 / 512


def test_an_events_cpu_stretches_and_its_wait_does_not() -> None:
    # 10 ms wall of which 2 ms CPU, at 512 MB: 2 x 3.455078125 + 8 ms of waiting
    assert cost_model.modelled_event_ms([10.0], [2.0], 512) == [pytest.approx(14.91015625)]
    # CPU above wall (a second thread was busy): the wait counts as 0, never negative
    assert cost_model.modelled_event_ms([2.0], [3.0], 1769) == [3.0]


def test_billed_ms_rounds_each_event_up_to_a_whole_millisecond() -> None:
    wall, cpu = [10.2, 3.0], [0.0, 0.5]
    # 1769 MB: ceil(10.2) = 11 and ceil(3.0) = 3
    assert cost_model.modelled_billed_ms(wall, cpu, 1769) == 7.0
    # 512 MB: 10.2 -> 11; 0.5 x 3.455078125 + 2.5 = 4.2275... -> 5
    assert cost_model.modelled_billed_ms(wall, cpu, 512) == 8.0
    # Lambda bills at least 1 ms
    assert cost_model.modelled_billed_ms([0.0], [0.0], 1769) == 1.0
    assert math.isnan(cost_model.modelled_billed_ms([], [], 1769))


def test_modelled_p50_is_the_median_of_the_modelled_events() -> None:
    # at 1769 MB nothing stretches: the median of 1, 5, 9
    assert cost_model.modelled_p50_ms([1.0, 9.0, 5.0], [0.5, 0.5, 0.5], 1769) == 5.0


def test_cold_start_model_stretches_init_and_first_event_cpu() -> None:
    cold = {"init_cpu_ms": 300.0, "first_cpu_ms": 100.0, "init_first_ms": 600.0, "init_ms": 350.0}
    assert cost_model.modelled_cold_ms(cold, 1769) == 600.0
    # 400 ms of CPU x 3.455078125 + 200 ms of waiting
    assert cost_model.modelled_cold_ms(cold, 512) == pytest.approx(1582.03125)
    # Init alone: 300 x 3.455078125 + 50
    assert cost_model.modelled_init_ms(cold, 512) == pytest.approx(1086.5234375)


# -- cost: one model per size ---------------------------------------------------------------------------


def _block(wall: list[float], cpu: list[float], calls: dict[str, int], consistent: int) -> dict[str, Any]:
    return {
        "wall_ms": wall,
        "cpu_ms": cpu,
        "api_calls": calls,
        "consistent_reads": consistent,
        "dynamodb_calls": [3] * len(wall),
        "dynamodb_sequential": [2] * len(wall),
        "http_sends": 3 * len(wall),
    }


def test_cost_per_million_adds_requests_duration_and_request_units() -> None:
    warm = {
        "api_calls_per_event": {"dynamodb.GetItem": 1.0, "dynamodb.PutItem": 1.0, "dynamodb.UpdateItem": 1.0},
        "consistent_reads_per_event": 1.0,
        "billed_ms": 10.0,
    }
    cost = cost_model.cost_per_million(warm, 1024)
    # 0.01 s x 1 GB x $0.0000133334 x 1e6 = $0.133334; 1 RRU $0.125; 2 WRU $1.25; HTTP API $1; requests $0.20
    assert cost["lambda_duration"] == pytest.approx(0.133334)
    assert cost["dynamodb_reads"] == pytest.approx(0.125)
    assert cost["dynamodb_writes"] == pytest.approx(1.25)
    assert cost["total"] == pytest.approx(2.708334)
    assert cost["memory_mb"] == 1024


def test_the_cost_table_and_the_sweep_give_one_cost_per_size() -> None:
    calls = {"dynamodb.GetItem": 2, "dynamodb.PutItem": 2, "dynamodb.UpdateItem": 2}
    raw = {
        name: {"blocks": [_block([12.0, 14.0], [4.0, 6.0], calls, 2)], "twilio_requests": [2]}
        for name in summaries.SUBJECTS
    }
    warm = summaries.summarize_warm(raw, 1024)
    cold_run = {"startup_ms": 5.0, "init_ms": 300.0, "init_cpu_ms": 250.0, "first_ms": 100.0, "first_cpu_ms": 40.0}
    cold_run |= {"peak_rss_kb": 51200, "modules": 400}
    cold = summaries.summarize_cold({name: [cold_run] for name in summaries.SUBJECTS})

    sweep = {row["memory_mb"]: row for row in cost_model.memory_sweep(cold, warm)}

    assert tuple(sweep) == cost_model.SWEEP_MB
    assert sweep[1024]["cost"] == pytest.approx(warm["bridge"]["cost"]["total"])
    # At 1024 MB each event's 4 or 6 ms of CPU x 1769/1024 plus 8 ms of waiting: 14.91 -> 15, 18.37 -> 19
    assert sweep[1024]["billed_ms"] == 17.0
    assert warm["bridge"]["billed_ms_at"][1024] == 17.0


# -- the recommended memory size ------------------------------------------------------------------------


def _rows(**changes: dict[str, float]) -> list[dict[str, float]]:
    rows = {
        256: {"warm_p50_ms": 40.0, "cost": 2.60, "cold_ms": 6000.0},
        512: {"warm_p50_ms": 25.0, "cost": 2.62, "cold_ms": 3000.0},
        768: {"warm_p50_ms": 21.5, "cost": 2.66, "cold_ms": 1980.0},
        1024: {"warm_p50_ms": 21.0, "cost": 2.70, "cold_ms": 1600.0},
        1769: {"warm_p50_ms": 20.0, "cost": 2.90, "cold_ms": 1000.0},
    }
    for key, change in changes.items():
        rows[int(key.removeprefix("mb"))].update(change)
    return [{"memory_mb": float(mb), **values} for mb, values in rows.items()]


def test_recommends_the_cheapest_size_within_both_limits() -> None:
    # The warm limit is 1.10 x 20.0 = 22.0 ms: 768, 1024 and 1769 MB pass both; 768 MB is the cheapest
    rec = cost_model.recommend(_rows())
    assert rec["memory_mb"] == 768
    assert rec["warm_limit_ms"] == pytest.approx(22.0)
    assert rec["eligible_mb"] == [768, 1024, 1769]
    # The trade-off is against the sizes either side of it in the sweep
    assert rec["smaller"]["memory_mb"] == 512
    assert rec["larger"]["memory_mb"] == 1024


def test_a_cold_start_over_two_seconds_rules_a_size_out() -> None:
    assert cost_model.recommend(_rows(mb768={"cold_ms": 2001.0}))["memory_mb"] == 1024


def test_the_limits_are_inclusive() -> None:
    rec = cost_model.recommend(_rows(mb768={"cold_ms": 2000.0, "warm_p50_ms": 22.0}))
    assert rec["memory_mb"] == 768


def test_a_warm_p50_over_ten_percent_of_one_vcpus_rules_a_size_out() -> None:
    assert cost_model.recommend(_rows(mb768={"warm_p50_ms": 22.1}))["memory_mb"] == 1024


def test_a_larger_size_wins_when_it_is_cheaper() -> None:
    # Less CPU time billed can make more memory cost less
    rec = cost_model.recommend(_rows(mb1024={"cost": 2.65}))
    assert rec["memory_mb"] == 1024
    assert rec["smaller"]["memory_mb"] == 768


def test_no_recommendation_when_no_size_meets_both_limits() -> None:
    rows = [{**row, "cold_ms": 2200.0} for row in _rows()]
    rec = cost_model.recommend(rows)
    assert rec["memory_mb"] is None
    assert rec["eligible_mb"] == []


def test_the_rule_is_written_as_named_constants() -> None:
    assert cost_model.RECOMMEND_AT_TWILIO_MS == 150
    assert cost_model.RECOMMEND_MAX_COLD_MS == 2000
    assert cost_model.RECOMMEND_MAX_WARM_VS_FULL_VCPU == 1.10


# -- SnapStart by numbers ---------------------------------------------------------------------------------


def test_snapstart_break_even_against_one_provisioned_environment() -> None:
    model = snapstart_pricing.snapstart(1024, 500.0, cold_starts=(1000,))
    # 1 GB: cache 0.0000015046 x 2,628,000 s = $3.9540888 a month; one provisioned environment
    # 0.0000033334 x 2,628,000 = $8.7601752 a month
    assert model["cache_per_month"] == pytest.approx(3.9540888)
    assert model["provisioned_per_month"] == pytest.approx(8.7601752)
    # Each cold start: a restore of $0.0001397998 instead of 500 ms of billed Init ($0.0000066667)
    assert model["init_billed_per_cold_start"] == pytest.approx(0.0000066667)
    assert model["extra_per_cold_start"] == pytest.approx(0.0001331331)
    # (8.7601752 - 3.9540888) / 0.0001331331 = 36,099.86 cold starts a month
    assert model["break_even_cold_starts_per_month"] == pytest.approx(36_099.86, rel=1e-6)
    assert model["added_per_month"] == {1000: pytest.approx(4.0872219)}
    # A restore costs what 10,484.9 ms of Init would, at any memory size
    assert model["init_ms_to_pay_back"] == pytest.approx(10_484.93, rel=1e-6)


def test_snapstart_costs_scale_with_memory_and_the_break_even_does_not() -> None:
    full, half = snapstart_pricing.snapstart(1024, 500.0), snapstart_pricing.snapstart(512, 500.0)
    assert half["cache_per_month"] == pytest.approx(full["cache_per_month"] / 2)
    assert half["provisioned_per_month"] == pytest.approx(full["provisioned_per_month"] / 2)
    assert half["break_even_cold_starts_per_month"] == pytest.approx(full["break_even_cold_starts_per_month"])


def test_snapstart_init_is_billed_in_whole_milliseconds() -> None:
    assert snapstart_pricing.snapstart(1024, 499.2)["init_billed_per_cold_start"] == pytest.approx(0.0000066667)


def test_snapstart_is_always_cheaper_when_init_costs_more_than_a_restore() -> None:
    model = snapstart_pricing.snapstart(1024, 20_000.0)
    assert model["extra_per_cold_start"] < 0
    assert model["break_even_cold_starts_per_month"] == math.inf


# -- issue 24's targets -----------------------------------------------------------------------------------


def _phase(cold_ratio: float, warm_ratio: float) -> tuple[dict[str, Any], dict[str, Any]]:
    return (
        {"ratio": {"floor": {"init_first_ms": cold_ratio}}},
        {"ratio": {"floor": {"p50_ms": warm_ratio}}},
    )


def test_targets_are_against_the_floor_and_inclusive() -> None:
    rows = summaries.targets([("loopback", *_phase(1.5, 1.11)), ("Twilio 150 ms (reference)", *_phase(1.51, 1.10))])
    assert [(row["phase"], row["target"], row["met"]) for row in rows] == [
        ("loopback", "cold Init + first event vs floor", True),
        ("loopback", "warm p50 vs floor", False),
        ("Twilio 150 ms (reference)", "cold Init + first event vs floor", False),
        ("Twilio 150 ms (reference)", "warm p50 vs floor", True),
    ]
    assert summaries.TARGET_COLD_VS_FLOOR == 1.5
    assert summaries.TARGET_WARM_P50_VS_FLOOR == 1.10


def test_the_targets_table_shows_a_near_miss_as_one() -> None:
    from bench.report import _targets
    from bench.tables import markdown

    table = markdown(_targets(summaries.targets([("loopback", *_phase(1.5, 1.104))])))
    assert "| loopback | 1.500x | <= 1.50x | pass |" in table
    assert "| loopback | 1.104x | <= 1.10x | MISS |" in table


def test_ratios_and_paired_ratios_are_against_both_references() -> None:
    def run(init: float, first: float) -> dict[str, Any]:
        return {"startup_ms": 1.0, "init_ms": init, "init_cpu_ms": init, "first_ms": first, "first_cpu_ms": 1.0}

    rounds = {
        "bridge": [run(300.0, 100.0) | {"peak_rss_kb": 1024, "modules": 10}],
        "floor": [run(150.0, 50.0) | {"peak_rss_kb": 1024, "modules": 10}],
        "baseline": [run(100.0, 60.0) | {"peak_rss_kb": 1024, "modules": 10}],
    }
    cold = summaries.summarize_cold(rounds)
    assert cold["ratio"]["floor"]["init_first_ms"] == 2.0  # 400 / 200
    assert cold["ratio"]["baseline"]["init_first_ms"] == 2.5  # 400 / 160
    assert cold["paired_init_first_ratio"]["floor"]["median"] == 2.0
