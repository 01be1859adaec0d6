"""Turns raw measurements into medians, ratios, cost, targets and models, and renders the tables."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from typing import Any

# us-east-1 list prices, as recorded by this project on 2026-11-28; check
# https://aws.amazon.com/api-gateway/pricing/, https://aws.amazon.com/lambda/pricing/ and
# https://aws.amazon.com/dynamodb/pricing/on-demand/ before quoting them.
HTTP_API_PER_MILLION = 1.00  # HTTP API requests, first 300 million a month
LAMBDA_REQUESTS_PER_MILLION = 0.20
LAMBDA_ARM64_PER_GB_SECOND = 0.0000133334
DYNAMODB_PER_MILLION_RRU = 0.125  # on-demand read request units
DYNAMODB_PER_MILLION_WRU = 0.625  # on-demand write request units
PRICES_AS_OF = "2026-11-28"

# SnapStart and provisioned concurrency, us-east-1, recorded 2026-12-01. aws.amazon.com/lambda/pricing/
# renders its rates client-side, so the stored copy searched here shows none of them: the SnapStart
# rates are as quoted by https://awsnegotiations.com/blog/lambda-snapstart-cost-impact/ (May 2026) and
# the x86 provisioned rate by https://www.emnode.com/learn/lesson/right-size-lambda-provisioned-concurrency/;
# the arm64 provisioned rate is the x86 one less Graviton's 20%. Check the pricing page before quoting.
SNAPSTART_CACHE_PER_GB_SECOND = 0.0000015046  # per GB of the function's memory, while the version is active
SNAPSTART_RESTORE_PER_GB = 0.0001397998  # per GB of memory, each time an environment is restored
PROVISIONED_ARM64_PER_GB_SECOND = 0.0000033334  # one environment kept initialised, per GB, all month
SNAPSTART_PRICES_AS_OF = "2026-12-01"
SNAPSTART_PRICE_SOURCES = (
    "https://aws.amazon.com/lambda/pricing/",
    "https://awsnegotiations.com/blog/lambda-snapstart-cost-impact/",
    "https://www.emnode.com/learn/lesson/right-size-lambda-provisioned-concurrency/",
)
# Since 2025-08-01 Lambda bills the Init phase of on-demand ZIP functions on managed runtimes as duration
# (https://aws.amazon.com/blogs/compute/aws-lambda-standardizes-billing-for-init-phase/), so a cold start
# without SnapStart pays its Init at the duration rate; with SnapStart it pays a restore instead.
INIT_BILLED_SINCE = "2025-08-01"
SECONDS_PER_MONTH = 730 * 3600  # AWS's pricing month
SNAPSTART_COLD_STARTS = (1_000, 10_000, 100_000)  # cold starts a month to price SnapStart at

# Request units per operation, assuming every item is at most 1 KB (writes) / 4 KB (reads):
# a consistent GetItem is 1 RRU, an eventually consistent one 0.5, each write 1 WRU.
_WRITES = {"PutItem", "UpdateItem", "DeleteItem"}
_READS = {"GetItem"}

# The targets of issue 14 ("Done when"): the bridge against the exactly-once floor, the least any
# handler that keeps the bridge's guarantee can do, cold (Init + first event) and warm (p50).
TARGET_COLD_VS_FLOOR = 1.8
TARGET_WARM_P50_VS_FLOOR = 1.15

SUBJECTS = ("bridge", "floor", "baseline")
# What the bridge is compared with: the floor first (the targets), then the baseline (no guarantee).
REFERENCES = ("floor", "baseline")

# Lambda allots CPU in proportion to memory: one full vCPU at 1,769 MB.
FULL_VCPU_MB = 1769
SWEEP_MB = (256, 512, 768, 1024, 1280, 1536, 1769)

# The latency phase's defaults: a DynamoDB round trip in-region, and Twilio's API answering a UDM
# from near (50 ms), typical (150 ms) and far or slow (400 ms).
DEFAULT_DYNAMODB_MS = 4.0
DEFAULT_TWILIO_MS = (50.0, 150.0, 400.0)

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


# -- statistics -------------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def ratio(a: float, b: float) -> float:
    return a / b if b else math.nan


def _spread(values: Sequence[float]) -> dict[str, float]:
    return {"median": median(values), "min": min(values, default=math.nan), "max": max(values, default=math.nan)}


# -- the memory model -------------------------------------------------------------------------------


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


# -- summaries --------------------------------------------------------------------------------------


def _present(data: dict[str, Any], subjects: Iterable[str]) -> list[str]:
    return [subject for subject in subjects if subject in data]


def summarize_cold(cold: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for subject in _present(cold, SUBJECTS):
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
    for reference in _present(cold, REFERENCES):
        bridge, other = out["bridge"], out[reference]
        out["ratio"][reference] = {key: ratio(bridge[key], other[key]) for key in bridge if key != "rounds"}
        # Each round ran the subjects back to back, so a per-round ratio cancels slow phases of the machine.
        paired = [
            ratio(b["init_ms"] + b["first_ms"], r["init_ms"] + r["first_ms"])
            for b, r in zip(cold["bridge"], cold[reference], strict=False)
        ]
        out["paired_init_first_ratio"][reference] = _spread(paired)
    return out


_WARM_RATIO_KEYS = ("p50_ms", "p99_ms", "mean_ms", "cpu_mean_ms", "cpu_p50_ms", "billed_ms", "peak_rss_mb")


def summarize_warm(warm: dict[str, dict[str, Any]], memory_mb: int, sizes: Sequence[int] = SWEEP_MB) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for subject in _present(warm, SUBJECTS):
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
    for reference in _present(warm, REFERENCES):
        bridge, other = out["bridge"], out[reference]
        out["ratio"][reference] = {key: ratio(bridge[key], other[key]) for key in _WARM_RATIO_KEYS}
        paired = [
            ratio(median(b["wall_ms"]), median(r["wall_ms"]))
            for b, r in zip(warm["bridge"]["blocks"], warm[reference]["blocks"], strict=False)
        ]
        out["paired_p50_ratio"][reference] = _spread(paired)
    return out


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


# -- the recommendation and SnapStart -----------------------------------------------------------------


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


def snapstart(memory_mb: int, init_ms: float, cold_starts: Sequence[int] = SNAPSTART_COLD_STARTS) -> dict[str, Any]:
    """What SnapStart costs a month for a function of `memory_mb` whose Init takes `init_ms`.

    SnapStart: a cache charge per GB of memory for every second of the month, plus a restore charge
    per GB at each cold start, in place of the Init that on-demand now bills as duration. The restore's
    own billed duration is not known without Lambda and counts as 0 here. Against one provisioned
    environment (its charge per GB for the whole month) SnapStart is cheaper below `break_even` cold
    starts a month; against doing nothing it never saves dollars unless Init costs more than a restore,
    which takes an Init of `init_ms_to_pay_back` (the same at every memory size: both scale by GB).
    """
    gb = memory_mb / 1024
    cache_month = SNAPSTART_CACHE_PER_GB_SECOND * gb * SECONDS_PER_MONTH
    restore = SNAPSTART_RESTORE_PER_GB * gb
    init_billed = max(1, math.ceil(init_ms)) / 1000 * gb * LAMBDA_ARM64_PER_GB_SECOND
    extra_per_cold_start = restore - init_billed
    provisioned_month = PROVISIONED_ARM64_PER_GB_SECOND * gb * SECONDS_PER_MONTH
    if extra_per_cold_start <= 0:
        break_even = math.inf if provisioned_month > cache_month else 0.0
    else:
        break_even = max(0.0, (provisioned_month - cache_month) / extra_per_cold_start)
    return {
        "memory_mb": memory_mb,
        "init_ms": init_ms,
        "cache_per_month": cache_month,
        "restore_per_cold_start": restore,
        "init_billed_per_cold_start": init_billed,
        "extra_per_cold_start": extra_per_cold_start,
        "provisioned_per_month": provisioned_month,
        "break_even_cold_starts_per_month": break_even,
        "init_ms_to_pay_back": SNAPSTART_RESTORE_PER_GB / LAMBDA_ARM64_PER_GB_SECOND * 1000,
        "added_per_month": {n: cache_month + n * extra_per_cold_start for n in cold_starts},
    }


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


def snapstart_for(summary: dict[str, Any], memory_mb: int) -> dict[str, Any]:
    """The SnapStart model at `memory_mb`, its Init modelled from the reference latency's cold rounds
    (or the loopback ones when the latency phase did not run)."""
    point = reference_point(summary.get("latency") or {})
    cold = point["cold"] if point else summary["cold"]
    source = f"Init from the cold rounds at Twilio {point['twilio_ms']:g} ms" if point else "Init from loopback"
    return {**snapstart(memory_mb, modelled_init_ms(cold["bridge"], memory_mb)), "source": source}


def target_phases(summary: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """Loopback, then each Twilio latency; the one the recommendation uses is marked (reference)."""
    phases = [("loopback", summary["cold"], summary["warm"])]
    latency = summary.get("latency") or {}
    for point in latency.get("points", []):
        mark = " (reference)" if point["twilio_ms"] == latency.get("reference_twilio_ms") else ""
        phases.append((f"Twilio {point['twilio_ms']:g} ms{mark}", point["cold"], point["warm"]))
    return phases


# -- targets ------------------------------------------------------------------------------------------


def targets(phases: Sequence[tuple[str, dict[str, Any], dict[str, Any]]]) -> list[dict[str, Any]]:
    """Issue 14's two targets, for each (label, cold summary, warm summary) phase given."""
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


# -- rendering -----------------------------------------------------------------------------------------


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    lines = [
        "  ".join(
            str(cell).rjust(w) if i else str(cell).ljust(w) for i, (cell, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in [headers, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return ["  " + line.rstrip() for line in lines]


def _f(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:,.{digits}f}"


def _x(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.2f}x"


def _usd(value: float) -> str:
    """Dollars, with enough digits for a fraction of a cent (a restore is about $0.00014)."""
    if abs(value) >= 0.995:
        return f"${value:,.2f}"
    return f"${value:.4f}" if abs(value) >= 0.01 else f"${value:.7f}"


def _mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


def _ms_label(ms: float) -> str:
    return f"{ms:g} ms"


def render(run: dict[str, Any]) -> str:
    meta, build, summary = run["meta"], run["build"], run["summary"]
    cold, warm = summary["cold"], summary["warm"]
    machine = meta["machine"]
    memory = meta["memory_mb"]
    out = [
        f"udm-bridge benchmark, {meta['timestamp']}",
        f"command:   {meta['command']}",
        f"machine:   Python {machine['python']} ({machine['implementation']}) on {machine['platform']}, "
        f"{machine['cpu_count']} CPUs ({machine['cpu_model']}), load avg {machine['load_start']} at start",
        f"code:      {meta['git']}",
        f"artefacts: layer {_mb(build['layer']['bytes'])} unzipped, {_mb(build['layer']['zip_bytes'])} zipped "
        f"({build['layer']['files']} files, {'bytecode shipped' if build['compiled'] else 'no bytecode'}); "
        f"function {build['function']['bytes']:,} B; baseline {_mb(build['baseline']['bytes'])}, "
        f"floor {_mb(build.get('floor', {}).get('bytes', 0))} unzipped",
        f"memory:    {memory} MB (template.yaml, IngestFunction) unless a line says otherwise; "
        f"wheels for {meta['build_platform']}",
        "servers:   moto (DynamoDB, Secrets Manager) and the Twilio emulator in the parent, on loopback, "
        + ("TCP_NODELAY set" if meta.get("loopback_tcp_nodelay") else "Nagle left on (--nagle)"),
        "subjects:  bridge = functions/ingest + layer; floor = the least an exactly-once handler does "
        "(claim || read, POST, save); baseline = read + POST, no idempotency",
        "",
        "Loopback (no added latency)",
        "",
        f"Cold start: median of {cold['bridge']['rounds']} rounds, a fresh process each, subjects in turn; "
        "read-only code, no bytecode written, sys.path = function, layer, runtime",
    ]
    out += _cold_table(cold)
    out += [
        "",
        f"Warm: {warm['bridge']['events']} events per subject in {warm['bridge']['blocks']} blocks, subjects in "
        f"turn, after {meta['options']['warmup']} warm-up events; every event freshly signed with a new ID",
    ]
    out += _warm_table(warm)

    out += ["", "I/O per warm event, counted (botocore hooks in the child; Twilio from the emulator's udm_requests)"]
    rows = []
    for subject in _present(warm, SUBJECTS):
        s = warm[subject]
        ops = ", ".join(
            f"{name.split('.', 1)[1]} {n:.2f}"
            for name, n in s["api_calls_per_event"].items()
            if name.startswith("dynamodb.")
        )
        other = ", ".join(
            f"{name} {n:.3f}" for name, n in s["api_calls_per_event"].items() if not name.startswith("dynamodb.")
        )
        rows.append(
            [
                subject,
                _f(s["dynamodb_per_event"], 2),
                _f(s["dynamodb_sequential_per_event"], 2),
                ops or "-",
                _f(s["twilio_per_event"], 2),
                other or "-",
                _f(s["log_bytes_per_event"], 0),
            ]
        )
    out += _table(
        ["subject", "DynamoDB", "in series", "DynamoDB operations", "Twilio POSTs", "other AWS calls", "log B"], rows
    )

    out += [
        "",
        f"Cost per million delivered events at {memory} MB, USD (us-east-1 list prices as recorded on {PRICES_AS_OF})",
    ]
    rows = []
    for subject in _present(warm, SUBJECTS):
        c = warm[subject]["cost"]
        rows.append(
            [
                subject,
                _f(c["http_api"], 3),
                _f(c["lambda_requests"], 3),
                _f(c["lambda_duration"], 3),
                _f(c["dynamodb_reads"], 3),
                _f(c["dynamodb_writes"], 3),
                _f(c["total"], 3),
            ]
        )
    out += _table(["subject", "HTTP API", "Lambda req", "Lambda GB-s", "DDB reads", "DDB writes", "total"], rows)
    bridge_cost = warm["bridge"]["cost"]
    out.append(
        f"  from: billed ms modelled at {memory} MB (each event's CPU x 1769/MB, its waits as measured, rounded "
        f"up to 1 ms) at arm64 prices: the same model, and so the same figure, as the {memory} MB row of the sweep "
        f"below; bridge {bridge_cost['rru_per_event']:.2f} RRU + {bridge_cost['wru_per_event']:.2f} WRU per event, "
        "assuming items <= 4 KB read / <= 1 KB written"
    )
    out.append("  not included: CloudWatch Logs ingestion (see log B), Secrets Manager calls, data transfer")
    if bridge_cost["unpriced_dynamodb_operations"]:
        out.append(f"  UNPRICED DynamoDB operations: {', '.join(bridge_cost['unpriced_dynamodb_operations'])}")

    sweep = summary.get("memory_sweep") or []
    if sweep:
        out += [
            "",
            "Memory sweep of the bridge on loopback, modelled from this phase (CPU stretches by 1769/MB below one "
            "vCPU; waits don't)",
        ]
        out += _sweep_table(sweep, memory, None)

    out += _render_latency(summary.get("latency") or {}, memory)
    out += _render_snapstart(summary.get("snapstart") or {})

    out += ["", "Targets (issue 14: the bridge against the exactly-once floor)"]
    rows = []
    for t in summary["targets"]:
        rows.append([t["target"], t["phase"], _x(t["value"]), f"<= {t['limit']:.2f}x", "pass" if t["met"] else "MISS"])
    out += _table(["target", "phase", "measured", "target", "result"], rows)

    out += _render_profiles(run.get("profile") or {})

    origins = run.get("runtime_origins") or {}
    shadowed = sorted(name for name, where in origins.items() if where != "runtime")
    if origins:
        out += [
            "",
            "Runtime packages (boto3's closure, provided by Lambda in /var/runtime) the bridge loaded from "
            f"its layer instead: {', '.join(shadowed) or 'none'}",
        ]

    if build.get("pip_conflicts"):
        out += ["", "pip's resolver notes for the layer (the layer's copies shadow the runtime's):"]
        out += [f"  {line}" for line in build["pip_conflicts"]]
    out += ["", f"valid: {'yes' if run['valid'] else 'NO'}"]
    out += [f"  invalid because: {reason}" for reason in run["invalid_reasons"]]
    return "\n".join(out) + "\n"


def _ratio_label(reference: str) -> str:
    return f"bridge/{reference}"


def _cold_table(cold: dict[str, Any]) -> list[str]:
    rows = []
    for subject in _present(cold, SUBJECTS):
        s = cold[subject]
        rows.append(
            [
                subject,
                _f(s["init_ms"]),
                _f(s["init_cpu_ms"]),
                _f(s["first_ms"]),
                _f(s["init_first_ms"]),
                _f(s["peak_rss_mb"]),
                _f(s["modules"], 0),
                _f(s["startup_ms"]),
            ]
        )
    for reference, r in cold["ratio"].items():
        keys = ("init_ms", "init_cpu_ms", "first_ms", "init_first_ms", "peak_rss_mb", "modules", "startup_ms")
        rows.append([_ratio_label(reference), *(_x(r[key]) for key in keys)])
    lines = _table(
        ["subject", "init ms", "init CPU ms", "1st event ms", "init+1st ms", "peak RSS MB", "modules", "interp ms"],
        rows,
    )
    for reference, paired in cold["paired_init_first_ratio"].items():
        lines.append(
            f"  per-round ratio of init+1st, bridge/{reference}: median {_x(paired['median'])} "
            f"(range {_x(paired['min'])} to {_x(paired['max'])})"
        )
    lines.append("  interp = interpreter start before Init, not in the ratios")
    return lines


def _warm_table(warm: dict[str, Any]) -> list[str]:
    keys = ("p50_ms", "p99_ms", "mean_ms", "cpu_mean_ms", "cpu_p50_ms", "billed_ms")
    rows = [
        [subject, *(_f(warm[subject][key], 2) for key in keys), _f(warm[subject]["peak_rss_mb"])]
        for subject in _present(warm, SUBJECTS)
    ]
    for reference, r in warm["ratio"].items():
        rows.append([_ratio_label(reference), *(_x(r[key]) for key in keys), _x(r["peak_rss_mb"])])
    lines = _table(
        ["subject", "p50 ms", "p99 ms", "mean ms", "CPU mean ms", "CPU p50 ms", "billed ms", "peak RSS MB"], rows
    )
    for reference, paired in warm["paired_p50_ratio"].items():
        lines.append(
            f"  per-block ratio of p50, bridge/{reference}: median {_x(paired['median'])} "
            f"(range {_x(paired['min'])} to {_x(paired['max'])})"
        )
    return lines


def _sweep_table(rows: Sequence[dict[str, Any]], template_mb: int, recommended_mb: int | None) -> list[str]:
    def note(mb: int) -> str:
        marks = [label for label, size in (("template", template_mb), ("recommended", recommended_mb)) if size == mb]
        return ", ".join(marks)

    return _table(
        ["memory MB", "warm p50 ms", "billed ms", "$ per million", "cold init+1st ms", "note"],
        [
            [
                str(int(row["memory_mb"])),
                _f(row["warm_p50_ms"]),
                _f(row["billed_ms"], 2),
                _f(row["cost"], 3),
                _f(row["cold_ms"], 0),
                note(int(row["memory_mb"])),
            ]
            for row in rows
        ],
    )


def _render_latency(latency: dict[str, Any], template_mb: int) -> list[str]:
    points = latency.get("points") or []
    if not points:
        return (
            ["", "Latency model: not run (--no-latency), so no recommended memory size"]
            if latency.get("skipped")
            else []
        )
    out = [
        "",
        f"With latency: every DynamoDB and Secrets Manager request +{latency['dynamodb_ms']:g} ms (a proxy in front "
        "of moto), every UDM POST + the Twilio latency (the emulator); "
        f"{points[0]['cold']['bridge']['rounds']} cold round(s) and {points[0]['warm']['bridge']['events']} warm "
        f"events per subject at each latency; {latency.get('seconds', math.nan):.0f} s in all",
        "",
        "Measured (wall ms; ratios are the bridge's)",
    ]
    rows = []
    for point in points:
        cold, warm = point["cold"], point["warm"]
        rows.append(
            [
                _ms_label(point["twilio_ms"]),
                *(_f(cold[subject]["init_first_ms"], 0) for subject in SUBJECTS),
                _x(cold["ratio"]["floor"]["init_first_ms"]),
                *(_f(warm[subject]["p50_ms"]) for subject in SUBJECTS),
                _x(warm["ratio"]["floor"]["p50_ms"]),
                _x(warm["ratio"]["baseline"]["p50_ms"]),
            ]
        )
    out += _table(
        [
            "Twilio",
            "cold bridge",
            "cold floor",
            "cold baseline",
            "cold vs floor",
            "p50 bridge",
            "p50 floor",
            "p50 baseline",
            "p50 vs floor",
            "p50 vs baseline",
        ],
        rows,
    )
    recommendation = latency.get("recommendation") or {}
    chosen = recommendation.get("memory_mb")
    for point in points:
        at_reference = point["twilio_ms"] == latency.get("reference_twilio_ms")
        out += [
            "",
            f"The bridge at Twilio {_ms_label(point['twilio_ms'])}, modelled per memory size from this latency's "
            "CPU/wait split",
        ]
        out += _sweep_table(point["sweep"], template_mb, chosen if at_reference else None)
    out += _render_recommendation(latency)
    return out


def _render_recommendation(latency: dict[str, Any]) -> list[str]:
    rec = latency.get("recommendation")
    if not rec:
        return []
    reference = _ms_label(latency["reference_twilio_ms"])
    out = [
        "",
        f"Recommended memory: the cheapest size whose modelled cold Init + first event at Twilio {reference} is "
        f"<= {rec['max_cold_ms']:,.0f} ms and whose warm p50 is <= {rec['max_warm_vs_full_vcpu']:.2f}x the "
        f"{FULL_VCPU_MB} MB figure ({rec['warm_limit_ms']:.1f} ms)",
    ]
    if rec["memory_mb"] is None:
        out.append("  no size meets both limits in this run")
        return out
    row = rec["row"]
    out.append(
        f"  -> {rec['memory_mb']} MB: ${row['cost']:.3f} per million, warm p50 {row['warm_p50_ms']:.1f} ms, "
        f"cold {row['cold_ms']:,.0f} ms (sizes meeting both: {', '.join(str(mb) for mb in rec['eligible_mb'])})"
    )
    for label, other in (("next size down", rec["smaller"]), ("next size up", rec["larger"])):
        if other is None:
            continue
        misses = [
            text
            for text, missed in (
                (f"cold over {rec['max_cold_ms']:,.0f} ms", other["cold_ms"] > rec["max_cold_ms"]),
                (f"warm p50 over {rec['warm_limit_ms']:.1f} ms", other["warm_p50_ms"] > rec["warm_limit_ms"]),
            )
            if missed
        ]
        out.append(
            f"  {label}, {other['memory_mb']} MB: {other['cost'] - row['cost']:+.3f} $ per million, warm p50 "
            f"{other['warm_p50_ms'] - row['warm_p50_ms']:+.1f} ms, cold {other['cold_ms'] - row['cold_ms']:+,.0f} ms"
            f" ({'; '.join(misses) if misses else 'meets both, costs more'})"
        )
    return out


def _render_snapstart(model: dict[str, Any]) -> list[str]:
    if not model:
        return []
    added = ", ".join(f"{int(n):,}: {_usd(cost)}" for n, cost in model["added_per_month"].items())
    break_even = model["break_even_cold_starts_per_month"]
    return [
        "",
        f"SnapStart by numbers at {model['memory_mb']} MB ({model['source']}; prices recorded "
        f"{SNAPSTART_PRICES_AS_OF}, on-demand Init billed as duration since {INIT_BILLED_SINCE})",
        f"  SnapStart: cache {_usd(model['cache_per_month'])} a month + restore "
        f"{_usd(model['restore_per_cold_start'])} "
        f"per cold start, in place of a billed Init of {model['init_ms']:,.0f} ms "
        f"({_usd(model['init_billed_per_cold_start'])}); one provisioned environment: "
        f"{_usd(model['provisioned_per_month'])} a month",
        f"  added per month over doing nothing, by cold starts a month: {added}",
        f"  cheaper than one provisioned environment (which only helps while one environment carries the traffic) "
        f"below {break_even:,.0f} cold starts a month; never cheaper than doing nothing unless Init bills over "
        f"{model['init_ms_to_pay_back']:,.0f} ms",
        f"  per cold start it removes the Init, {model['init_ms']:,.0f} ms modelled here, and adds the restore's "
        "own duration, which only Lambda can measure (counted as 0 ms and $0 above)",
    ]


def _render_profiles(profile: dict[str, Any]) -> list[str]:
    out: list[str] = []
    cold = profile.get("cold") or {}
    imports = cold.get("imports") or {}
    for phase, title in (("init", "Init"), ("first_event", "the first event")):
        summary = imports.get(phase) or {}
        if not summary.get("top"):
            continue
        out += [
            "",
            f"Imports during {title} of the bridge: python -X importtime in one extra cold child, "
            f"{summary['modules']} modules, {summary['total_ms']:.0f} ms as profiled (profiling inflates it)",
        ]
        rows = [[_f(item["cumulative_ms"]), _f(item["self_ms"]), item["module"]] for item in summary["top"]]
        out += _table(["cumulative ms", "self ms", "module (top 15 by cumulative)"], rows)
        packages = ", ".join(f"{name} {ms:.0f}" for name, ms in summary["packages"][:8])
        out.append(f"  self ms by top-level package: {packages}")
    first = cold.get("first_event") or {}
    if first.get("functions"):
        out += [
            "",
            f"The bridge's first event under cProfile (wall time; {cold['first_event_ms']:.0f} ms as profiled)",
        ]
        out += _profile_table(first, 1, top=12)
    warm = profile.get("warm") or {}
    if warm.get("functions"):
        events = max(1, int(warm.get("events", 1)))
        out += [
            "",
            f"A warm bridge event's CPU time under cProfile (process_time; mean of {events} events; "
            "not in the statistics above)",
        ]
        out += _profile_table(warm, events, top=15)
    return out


def _profile_table(profile: dict[str, Any], events: int, *, top: int) -> list[str]:
    packages = ", ".join(f"{name} {ms / events:.2f}" for name, ms in profile["packages"][:8])
    rows = [
        [
            _f(row["self_ms"] / events, 3),
            _f(row["cumulative_ms"] / events, 3),
            _f(row["calls"] / events, 1),
            row["function"][-95:],
        ]
        for row in profile["functions"][:top]
    ]
    lines = [f"  self ms by package: {packages}"]
    return lines + _table(["self ms", "cum ms", "calls", "function"], rows)
