"""The report's latency sections: the three subjects measured at each Twilio latency, the bridge
modelled per memory size at each, and the recommended memory size."""

from __future__ import annotations

import math
from typing import Any

from bench.cost_model import FULL_VCPU_MB
from bench.report_loopback import sweep_table
from bench.summaries import SUBJECTS
from bench.tables import GAP, Block, Note, Table, Title, ms_label, num, times


def latency_blocks(latency: dict[str, Any], template_mb: int) -> list[Block]:
    points = latency.get("points") or []
    if not points:
        if latency.get("skipped"):
            return [GAP, Title("Latency model: not run (--no-latency), so no recommended memory size")]
        return []
    blocks: list[Block] = [
        GAP,
        Title(
            f"With latency: every DynamoDB and Secrets Manager request +{latency['dynamodb_ms']:g} ms (a proxy in "
            "front of moto), every UDM POST + the Twilio latency (the emulator); "
            f"{points[0]['cold']['bridge']['rounds']} cold round(s) and {points[0]['warm']['bridge']['events']} warm "
            f"events per subject at each latency; {latency.get('seconds', math.nan):.0f} s in all"
        ),
        GAP,
        Title("Measured (wall ms; ratios are the bridge's)"),
    ]
    rows = []
    for point in points:
        cold, warm = point["cold"], point["warm"]
        rows.append(
            [
                ms_label(point["twilio_ms"]),
                *(num(cold[subject]["init_first_ms"], 0) for subject in SUBJECTS),
                times(cold["ratio"]["floor"]["init_first_ms"]),
                *(num(warm[subject]["p50_ms"]) for subject in SUBJECTS),
                times(warm["ratio"]["floor"]["p50_ms"]),
                times(warm["ratio"]["baseline"]["p50_ms"]),
            ]
        )
    cold_headers = ["cold bridge", "cold floor", "cold baseline", "cold vs floor"]
    warm_headers = ["p50 bridge", "p50 floor", "p50 baseline", "p50 vs floor", "p50 vs baseline"]
    blocks.append(Table(["Twilio", *cold_headers, *warm_headers], rows))
    recommendation = latency.get("recommendation") or {}
    chosen = recommendation.get("memory_mb")
    for point in points:
        at_reference = point["twilio_ms"] == latency.get("reference_twilio_ms")
        blocks += [
            GAP,
            Title(
                f"The bridge at Twilio {ms_label(point['twilio_ms'])}, modelled per memory size from this latency's "
                "CPU/wait split"
            ),
            sweep_table(point["sweep"], template_mb, chosen if at_reference else None),
        ]
    return blocks + _recommendation(latency)


def _recommendation(latency: dict[str, Any]) -> list[Block]:
    rec = latency.get("recommendation")
    if not rec:
        return []
    reference = ms_label(latency["reference_twilio_ms"])
    blocks: list[Block] = [
        GAP,
        Title(
            f"Recommended memory: the cheapest size whose modelled cold Init + first event at Twilio {reference} is "
            f"<= {rec['max_cold_ms']:,.0f} ms and whose warm p50 is <= {rec['max_warm_vs_full_vcpu']:.2f}x the "
            f"{FULL_VCPU_MB} MB figure ({rec['warm_limit_ms']:.1f} ms)"
        ),
    ]
    if rec["memory_mb"] is None:
        return [*blocks, Note("no size meets both limits in this run")]
    row = rec["row"]
    blocks.append(
        Note(
            f"-> {rec['memory_mb']} MB: ${row['cost']:.3f} per million, warm p50 {row['warm_p50_ms']:.1f} ms, "
            f"cold {row['cold_ms']:,.0f} ms (sizes meeting both: {', '.join(str(mb) for mb in rec['eligible_mb'])})"
        )
    )
    for label, other in (("next size down", rec["smaller"]), ("next size up", rec["larger"])):
        if other is None:
            continue
        misses = [
            limit
            for limit, missed in (
                (f"cold over {rec['max_cold_ms']:,.0f} ms", other["cold_ms"] > rec["max_cold_ms"]),
                (f"warm p50 over {rec['warm_limit_ms']:.1f} ms", other["warm_p50_ms"] > rec["warm_limit_ms"]),
            )
            if missed
        ]
        blocks.append(
            Note(
                f"{label}, {other['memory_mb']} MB: {other['cost'] - row['cost']:+.3f} $ per million, warm p50 "
                f"{other['warm_p50_ms'] - row['warm_p50_ms']:+.1f} ms, "
                f"cold {other['cold_ms'] - row['cold_ms']:+,.0f} ms"
                f" ({'; '.join(misses) if misses else 'meets both, costs more'})"
            )
        )
    return blocks
