"""Turns raw measurements into medians and ratios per subject, per phase, and issue 24's targets."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from typing import Any

from bench.cost_model import (
    RECOMMEND_AT_TWILIO_MS,
    SWEEP_MB,
    cost_at,
    memory_sweep,
    modelled_billed_ms,
    modelled_p50_ms,
    recommend,
)
from bench.stats import median, percentile, ratio, spread

# The targets of issue 24 ("Done when"; issue 14 set 1.8x and 1.15x): the bridge against the
# exactly-once floor, the least any handler that keeps the bridge's guarantee can do, cold (Init +
# first event) and warm (p50).
TARGET_COLD_VS_FLOOR = 1.5
TARGET_WARM_P50_VS_FLOOR = 1.10

SUBJECTS = ("bridge", "floor", "baseline")
# What the bridge is compared with: the floor first (the targets), then the baseline (no guarantee).
REFERENCES = ("floor", "baseline")


# -- summaries --------------------------------------------------------------------------------------


def present(data: dict[str, Any], subjects: Iterable[str]) -> list[str]:
    return [subject for subject in subjects if subject in data]


def summarize_cold(cold: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for subject in present(cold, SUBJECTS):
        runs = cold[subject]
        out[subject] = {
            "rounds": len(runs),
            "startup_ms": median([r["startup_ms"] for r in runs]),
            "init_ms": median([r["init_ms"] for r in runs]),
            "init_cpu_ms": median([r["init_cpu_ms"] for r in runs]),
            "first_ms": median([r["first_ms"] for r in runs]),
            "first_cpu_ms": median([r.get("first_cpu_ms", math.nan) for r in runs]),
            "init_first_ms": median([r["init_ms"] + r["first_ms"] for r in runs]),
            "peak_rss_mb": median([r["peak_rss_kb"] / 1024 for r in runs]),
            "modules": median([r["modules"] for r in runs]),
        }
    out["ratio"], out["paired_init_first_ratio"] = {}, {}
    for reference in present(cold, REFERENCES):
        bridge, other = out["bridge"], out[reference]
        out["ratio"][reference] = {key: ratio(bridge[key], other[key]) for key in bridge if key != "rounds"}
        # Each round ran the subjects back to back, so a per-round ratio cancels slow phases of the machine.
        paired = [
            ratio(b["init_ms"] + b["first_ms"], r["init_ms"] + r["first_ms"])
            for b, r in zip(cold["bridge"], cold[reference], strict=False)
        ]
        out["paired_init_first_ratio"][reference] = spread(paired)
    return out


_WARM_RATIO_KEYS = ("p50_ms", "p99_ms", "mean_ms", "cpu_mean_ms", "cpu_p50_ms", "billed_ms", "peak_rss_mb")


def summarize_warm(warm: dict[str, dict[str, Any]], memory_mb: int, sizes: Sequence[int] = SWEEP_MB) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for subject in present(warm, SUBJECTS):
        blocks = warm[subject]["blocks"]
        wall = [ms for block in blocks for ms in block["wall_ms"]]
        cpu = [ms for block in blocks for ms in block["cpu_ms"]]
        events = len(wall)
        calls: dict[str, int] = {}
        for block in blocks:
            for name, n in block["api_calls"].items():
                calls[name] = calls.get(name, 0) + n
        twilio = sum(warm[subject]["twilio_requests"])
        per_event = {name: n / events for name, n in sorted(calls.items())} if events else {}
        consistent = sum(block["consistent_reads"] for block in blocks)
        billed = [max(1, math.ceil(ms)) for ms in wall]  # Lambda bills each invocation up to the next 1 ms
        all_sizes = sorted({*sizes, memory_mb})
        out[subject] = {
            "events": events,
            "blocks": len(blocks),
            "p50_ms": median(wall),
            "p99_ms": percentile(wall, 99),
            "mean_ms": statistics.fmean(wall) if wall else math.nan,
            "cpu_mean_ms": statistics.fmean(cpu) if cpu else math.nan,
            "cpu_p50_ms": median(cpu),
            "billed_ms": statistics.fmean(billed) if billed else math.nan,
            # Each memory size from one model (modelled_event_ms), for the cost table and the sweeps alike.
            "billed_ms_at": {mb: modelled_billed_ms(wall, cpu, mb) for mb in all_sizes},
            "p50_ms_at": {mb: modelled_p50_ms(wall, cpu, mb) for mb in all_sizes},
            "dynamodb_per_event": sum(sum(b["dynamodb_calls"]) for b in blocks) / events if events else math.nan,
            "dynamodb_sequential_per_event": (
                sum(sum(b["dynamodb_sequential"]) for b in blocks) / events if events else math.nan
            ),
            "consistent_reads_per_event": consistent / events if events else math.nan,
            "aws_http_sends_per_event": sum(b["http_sends"] for b in blocks) / events if events else math.nan,
            "api_calls_per_event": per_event,
            "twilio_per_event": twilio / events if events else math.nan,
            "peak_rss_mb": warm[subject].get("final", {}).get("peak_rss_kb", 0) / 1024,
            "log_bytes_per_event": warm[subject].get("log_bytes", 0) / max(1, warm[subject].get("events_total", 1)),
            "clients": warm[subject].get("ready", {}).get("clients", []),
        }
        out[subject]["cost"] = cost_at(out[subject], memory_mb)
    out["ratio"], out["paired_p50_ratio"] = {}, {}
    for reference in present(warm, REFERENCES):
        bridge, other = out["bridge"], out[reference]
        out["ratio"][reference] = {key: ratio(bridge[key], other[key]) for key in _WARM_RATIO_KEYS}
        paired = [
            ratio(median(b["wall_ms"]), median(r["wall_ms"]))
            for b, r in zip(warm["bridge"]["blocks"], warm[reference]["blocks"], strict=False)
        ]
        out["paired_p50_ratio"][reference] = spread(paired)
    return out


def summarize_latency(raw: dict[str, Any], memory_mb: int, sizes: Sequence[int] = SWEEP_MB) -> dict[str, Any]:
    """Each Twilio latency's cold and warm summaries and the bridge's sweep; the recommendation from the
    one at RECOMMEND_AT_TWILIO_MS (or the nearest measured, if it was not)."""
    points = []
    for point in raw.get("points", []):
        complete = all(point["cold"].get(name) for name in SUBJECTS) and all(
            point["warm"].get(name, {}).get("blocks") for name in SUBJECTS
        )
        if not complete:
            continue
        cold, warm = summarize_cold(point["cold"]), summarize_warm(point["warm"], memory_mb, sizes)
        points.append(
            {"twilio_ms": point["twilio_ms"], "cold": cold, "warm": warm, "sweep": memory_sweep(cold, warm, sizes)}
        )
    out: dict[str, Any] = {
        "dynamodb_ms": raw.get("dynamodb_ms"),
        "points": points,
        "proxy": raw.get("proxy", {}),
        "seconds": raw.get("seconds", math.nan),
    }
    if points:
        reference = min(points, key=lambda p: (abs(p["twilio_ms"] - RECOMMEND_AT_TWILIO_MS), p["twilio_ms"]))
        out["reference_twilio_ms"] = reference["twilio_ms"]
        out["recommendation"] = recommend(reference["sweep"])
    return out


def reference_point(latency: dict[str, Any]) -> dict[str, Any] | None:
    wanted = latency.get("reference_twilio_ms")
    return next((p for p in latency.get("points", []) if p["twilio_ms"] == wanted), None)


# -- targets ------------------------------------------------------------------------------------------


def target_phases(summary: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """Loopback, then each Twilio latency; the one the recommendation uses is marked (reference)."""
    phases = [("loopback", summary["cold"], summary["warm"])]
    latency = summary.get("latency") or {}
    for point in latency.get("points", []):
        mark = " (reference)" if point["twilio_ms"] == latency.get("reference_twilio_ms") else ""
        phases.append((f"Twilio {point['twilio_ms']:g} ms{mark}", point["cold"], point["warm"]))
    return phases


def targets(phases: Sequence[tuple[str, dict[str, Any], dict[str, Any]]]) -> list[dict[str, Any]]:
    """Issue 24's two targets, for each (label, cold summary, warm summary) phase given."""
    out = []
    for label, cold, warm in phases:
        rows = [
            ("cold Init + first event vs floor", cold["ratio"]["floor"]["init_first_ms"], TARGET_COLD_VS_FLOOR),
            ("warm p50 vs floor", warm["ratio"]["floor"]["p50_ms"], TARGET_WARM_P50_VS_FLOOR),
        ]
        for name, value, limit in rows:
            met = value <= limit  # "at most"
            out.append({"target": name, "phase": label, "value": value, "limit": limit, "unit": "x", "met": met})
    return out
