"""The memory and cost model: what an event takes and costs at each Lambda memory size, and the
size to recommend.

Lambda allots CPU in proportion to memory and the children ran on a whole core, so at M MB an event's
CPU time stretches by 1769/M below one vCPU while its waiting does not. Every modelled figure in the
report comes from `modelled_ms`, so a size has one cost wherever it appears.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

from bench.stats import median

# us-east-1 list prices, as recorded by this project on 2026-11-28; check
# https://aws.amazon.com/api-gateway/pricing/, https://aws.amazon.com/lambda/pricing/ and
# https://aws.amazon.com/dynamodb/pricing/on-demand/ before quoting them.
HTTP_API_PER_MILLION = 1.00  # HTTP API requests, first 300 million a month
LAMBDA_REQUESTS_PER_MILLION = 0.20
LAMBDA_ARM64_PER_GB_SECOND = 0.0000133334
DYNAMODB_PER_MILLION_RRU = 0.125  # on-demand read request units
DYNAMODB_PER_MILLION_WRU = 0.625  # on-demand write request units
PRICES_AS_OF = "2026-11-28"

# Request units per operation, assuming every item is at most 1 KB (writes) / 4 KB (reads):
# a consistent GetItem is 1 RRU, an eventually consistent one 0.5, each write 1 WRU.
_WRITES = {"PutItem", "UpdateItem", "DeleteItem"}
_READS = {"GetItem"}

# Lambda allots CPU in proportion to memory: one full vCPU at 1,769 MB.
FULL_VCPU_MB = 1769
SWEEP_MB = (256, 512, 768, 1024, 1280, 1536, 1769)

# The recommended memory size: the cheapest whose modelled cold Init + first event, at the typical
# Twilio latency, stays within RECOMMEND_MAX_COLD_MS, and whose modelled warm p50 is within
# RECOMMEND_MAX_WARM_VS_FULL_VCPU of the 1,769 MB (one whole vCPU) figure. Why: a sender waits through
# a cold start, and the most impatient sender with a profile here, Shopify, gives up after 5 s; 2 s is
# 40% of that, leaving the rest for a retried Twilio POST inside the same request. Warm events are the
# common case, and past one vCPU more memory buys a Python handler no speed, so 10% of the fastest warm
# latency is the most we trade for price.
RECOMMEND_AT_TWILIO_MS = 150.0
RECOMMEND_MAX_COLD_MS = 2000.0
RECOMMEND_MAX_WARM_VS_FULL_VCPU = 1.10


# -- the model ---------------------------------------------------------------------------------------


def stretch(memory_mb: int) -> float:
    """How much longer CPU work takes at `memory_mb` than on the whole core the children ran on."""
    return max(1.0, FULL_VCPU_MB / memory_mb)


def modelled_ms(wall_ms: float, cpu_ms: float, memory_mb: int) -> float:
    """The one model: CPU stretched by 1769/MB below one vCPU, waiting (wall minus CPU) as measured."""
    return cpu_ms * stretch(memory_mb) + max(0.0, wall_ms - cpu_ms)


def modelled_event_ms(wall: Sequence[float], cpu: Sequence[float], memory_mb: int) -> list[float]:
    """Each event's duration at `memory_mb`."""
    return [modelled_ms(w, c, memory_mb) for w, c in zip(wall, cpu, strict=False)]


def modelled_billed_ms(wall: Sequence[float], cpu: Sequence[float], memory_mb: int) -> float:
    """Mean billed ms per event at `memory_mb`: the modelled duration, each event rounded up to 1 ms."""
    if not wall:
        return math.nan
    return statistics.fmean(max(1, math.ceil(ms)) for ms in modelled_event_ms(wall, cpu, memory_mb))


def modelled_p50_ms(wall: Sequence[float], cpu: Sequence[float], memory_mb: int) -> float:
    return median(modelled_event_ms(wall, cpu, memory_mb))


def modelled_cold_ms(cold: dict[str, Any], memory_mb: int) -> float:
    """Init + first event at `memory_mb` from a subject's cold medians, CPU stretched, waits as measured."""
    return modelled_ms(float(cold["init_first_ms"]), float(cold["init_cpu_ms"] + cold["first_cpu_ms"]), memory_mb)


def modelled_init_ms(cold: dict[str, Any], memory_mb: int) -> float:
    """Init alone at `memory_mb` (what SnapStart would take out of a cold start)."""
    return modelled_ms(float(cold["init_ms"]), float(cold["init_cpu_ms"]), memory_mb)


# -- cost and the sweep -------------------------------------------------------------------------------


def cost_at(warm_subject: dict[str, Any], memory_mb: int) -> dict[str, Any]:
    """A subject's cost per million at `memory_mb`, from the one billed-duration model."""
    return cost_per_million({**warm_subject, "billed_ms": warm_subject["billed_ms_at"][memory_mb]}, memory_mb)


def cost_per_million(warm: dict[str, Any], memory_mb: int) -> dict[str, Any]:
    """Dollars per million delivered events from measured duration and counted DynamoDB calls."""
    calls: dict[str, float] = warm["api_calls_per_event"]
    reads = sum(n for name, n in calls.items() if name.split(".", 1)[1] in _READS and name.startswith("dynamodb."))
    consistent = warm["consistent_reads_per_event"]
    rru = consistent + 0.5 * max(0.0, reads - consistent)
    wru = sum(n for name, n in calls.items() if name.startswith("dynamodb.") and name.split(".", 1)[1] in _WRITES)
    unpriced = sorted(
        name for name in calls if name.startswith("dynamodb.") and name.split(".", 1)[1] not in _READS | _WRITES
    )
    gb_seconds = warm["billed_ms"] / 1000 * memory_mb / 1024
    parts = {
        "http_api": HTTP_API_PER_MILLION,
        "lambda_requests": LAMBDA_REQUESTS_PER_MILLION,
        "lambda_duration": gb_seconds * LAMBDA_ARM64_PER_GB_SECOND * 1e6,
        "dynamodb_reads": rru * DYNAMODB_PER_MILLION_RRU,
        "dynamodb_writes": wru * DYNAMODB_PER_MILLION_WRU,
    }
    return {
        **parts,
        "total": sum(parts.values()),
        "memory_mb": memory_mb,
        "rru_per_event": rru,
        "wru_per_event": wru,
        "gb_seconds_per_event": gb_seconds,
        "unpriced_dynamodb_operations": unpriced,
    }


def memory_sweep(cold: dict[str, Any], warm: dict[str, Any], sizes: Sequence[int] = SWEEP_MB) -> list[dict[str, float]]:
    """The bridge at each memory size, modelled from one phase's split of wall time into CPU and wait.

    The children here ran on a whole core; at M MB Lambda gives M/1769 of one, so CPU time
    stretches by 1769/M (below 1769 MB) while time spent waiting on the network does not.
    """
    bridge_warm, bridge_cold = warm["bridge"], cold["bridge"]
    return [
        {
            "memory_mb": mb,
            "warm_p50_ms": bridge_warm["p50_ms_at"][mb],
            "billed_ms": bridge_warm["billed_ms_at"][mb],
            "cost": cost_at(bridge_warm, mb)["total"],
            "cold_ms": modelled_cold_ms(bridge_cold, mb),
            "init_ms": modelled_init_ms(bridge_cold, mb),
        }
        for mb in sizes
    ]


# -- the recommendation --------------------------------------------------------------------------------


def recommend(
    rows: Sequence[dict[str, float]],
    max_cold_ms: float = RECOMMEND_MAX_COLD_MS,
    max_warm_vs_full_vcpu: float = RECOMMEND_MAX_WARM_VS_FULL_VCPU,
) -> dict[str, Any]:
    """The cheapest size whose cold Init + first event is within `max_cold_ms` and whose warm p50 is
    within `max_warm_vs_full_vcpu` of the one-vCPU size's; ties go to the smaller size. With its
    neighbours in the sweep, for the trade-off. `memory_mb` is None when no size passes both."""
    ordered = sorted(rows, key=lambda row: row["memory_mb"])
    full = next((row for row in ordered if row["memory_mb"] == FULL_VCPU_MB), ordered[-1])
    warm_limit = full["warm_p50_ms"] * max_warm_vs_full_vcpu
    eligible = [row for row in ordered if row["cold_ms"] <= max_cold_ms and row["warm_p50_ms"] <= warm_limit]
    out: dict[str, Any] = {
        "memory_mb": None,
        "max_cold_ms": max_cold_ms,
        "max_warm_vs_full_vcpu": max_warm_vs_full_vcpu,
        "warm_limit_ms": warm_limit,
        "eligible_mb": [row["memory_mb"] for row in eligible],
        "row": None,
        "smaller": None,
        "larger": None,
    }
    if not eligible:
        return out
    chosen = min(eligible, key=lambda row: (row["cost"], row["memory_mb"]))
    index = ordered.index(chosen)
    out.update(
        memory_mb=chosen["memory_mb"],
        row=chosen,
        smaller=ordered[index - 1] if index > 0 else None,
        larger=ordered[index + 1] if index + 1 < len(ordered) else None,
    )
    return out
