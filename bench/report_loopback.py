"""The report's loopback sections: cold and warm tables with the bridge's ratios, I/O per event, the
cost per million, and the memory sweep (its table is the latency sections' too)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.cost_model import PRICES_AS_OF
from bench.summaries import SUBJECTS, present
from bench.tables import GAP, Block, Note, Table, Title, num, times


def loopback_blocks(run: dict[str, Any]) -> list[Block]:
    meta, summary = run["meta"], run["summary"]
    cold, warm, memory = summary["cold"], summary["warm"], meta["memory_mb"]
    blocks: list[Block] = [
        Title(
            f"Cold start: median of {cold['bridge']['rounds']} rounds, a fresh process each, subjects in turn; "
            "read-only code, no bytecode written, sys.path = function, layer, runtime"
        ),
        *_cold_table(cold),
        GAP,
        Title(
            f"Warm: {warm['bridge']['events']} events per subject in {warm['bridge']['blocks']} blocks, subjects in "
            f"turn, after {meta['options']['warmup']} warm-up events; every event freshly signed with a new ID"
        ),
        *_warm_table(warm),
        GAP,
        Title("I/O per warm event, counted (botocore hooks in the child; Twilio from the emulator's udm_requests)"),
        _io_table(warm),
        GAP,
        Title(
            f"Cost per million delivered events at {memory} MB, USD "
            f"(us-east-1 list prices as recorded on {PRICES_AS_OF})"
        ),
        *_cost_table(warm, memory),
    ]
    sweep = summary.get("memory_sweep") or []
    if sweep:
        blocks += [
            GAP,
            Title(
                "Memory sweep of the bridge on loopback, modelled from this phase (CPU stretches by 1769/MB below one "
                "vCPU; waits don't)"
            ),
            sweep_table(sweep, memory, None),
        ]
    return blocks


def _ratio_label(reference: str) -> str:
    return f"bridge/{reference}"


def _cold_table(cold: dict[str, Any]) -> list[Block]:
    keys = ("init_ms", "init_cpu_ms", "first_ms", "init_first_ms", "peak_rss_mb", "modules", "startup_ms")
    rows = []
    for subject in present(cold, SUBJECTS):
        s = cold[subject]
        rows.append(
            [
                subject,
                num(s["init_ms"]),
                num(s["init_cpu_ms"]),
                num(s["first_ms"]),
                num(s["init_first_ms"]),
                num(s["peak_rss_mb"]),
                num(s["modules"], 0),
                num(s["startup_ms"]),
            ]
        )
    for reference, r in cold["ratio"].items():
        rows.append([_ratio_label(reference), *(times(r[key]) for key in keys)])
    headers = [
        "subject",
        "init ms",
        "init CPU ms",
        "1st event ms",
        "init+1st ms",
        "peak RSS MB",
        "modules",
        "interp ms",
    ]
    blocks: list[Block] = [Table(headers, rows)]
    for reference, paired in cold["paired_init_first_ratio"].items():
        blocks.append(
            Note(
                f"per-round ratio of init+1st, bridge/{reference}: median {times(paired['median'])} "
                f"(range {times(paired['min'])} to {times(paired['max'])})"
            )
        )
    blocks.append(Note("interp = interpreter start before Init, not in the ratios"))
    return blocks


def _warm_table(warm: dict[str, Any]) -> list[Block]:
    keys = ("p50_ms", "p99_ms", "mean_ms", "cpu_mean_ms", "cpu_p50_ms", "billed_ms")
    rows = [
        [subject, *(num(warm[subject][key], 2) for key in keys), num(warm[subject]["peak_rss_mb"])]
        for subject in present(warm, SUBJECTS)
    ]
    for reference, r in warm["ratio"].items():
        rows.append([_ratio_label(reference), *(times(r[key]) for key in keys), times(r["peak_rss_mb"])])
    headers = ["subject", "p50 ms", "p99 ms", "mean ms", "CPU mean ms", "CPU p50 ms", "billed ms", "peak RSS MB"]
    blocks: list[Block] = [Table(headers, rows)]
    for reference, paired in warm["paired_p50_ratio"].items():
        blocks.append(
            Note(
                f"per-block ratio of p50, bridge/{reference}: median {times(paired['median'])} "
                f"(range {times(paired['min'])} to {times(paired['max'])})"
            )
        )
    return blocks


def _io_table(warm: dict[str, Any]) -> Table:
    rows = []
    for subject in present(warm, SUBJECTS):
        s = warm[subject]
        calls = s["api_calls_per_event"]
        ops = ", ".join(f"{name.split('.', 1)[1]} {n:.2f}" for name, n in calls.items() if name.startswith("dynamodb."))
        other = ", ".join(f"{name} {n:.3f}" for name, n in calls.items() if not name.startswith("dynamodb."))
        rows.append(
            [
                subject,
                num(s["dynamodb_per_event"], 2),
                num(s["dynamodb_sequential_per_event"], 2),
                ops or "-",
                num(s["twilio_per_event"], 2),
                other or "-",
                num(s["log_bytes_per_event"], 0),
            ]
        )
    return Table(
        ["subject", "DynamoDB", "in series", "DynamoDB operations", "Twilio POSTs", "other AWS calls", "log B"], rows
    )


def _cost_table(warm: dict[str, Any], memory: int) -> list[Block]:
    keys = ("http_api", "lambda_requests", "lambda_duration", "dynamodb_reads", "dynamodb_writes", "total")
    rows = [[subject, *(num(warm[subject]["cost"][key], 3) for key in keys)] for subject in present(warm, SUBJECTS)]
    headers = ["subject", "HTTP API", "Lambda req", "Lambda GB-s", "DDB reads", "DDB writes", "total"]
    bridge_cost = warm["bridge"]["cost"]
    blocks: list[Block] = [
        Table(headers, rows),
        Note(
            f"from: billed ms modelled at {memory} MB (each event's CPU x 1769/MB, its waits as measured, rounded "
            f"up to 1 ms) at arm64 prices: the same model, and so the same figure, as the {memory} MB row of the "
            f"sweep below; bridge {bridge_cost['rru_per_event']:.2f} RRU + {bridge_cost['wru_per_event']:.2f} WRU "
            "per event, assuming items <= 4 KB read / <= 1 KB written"
        ),
        Note("not included: CloudWatch Logs ingestion (see log B), Secrets Manager calls, data transfer"),
    ]
    if bridge_cost["unpriced_dynamodb_operations"]:
        blocks.append(Note(f"UNPRICED DynamoDB operations: {', '.join(bridge_cost['unpriced_dynamodb_operations'])}"))
    return blocks


def sweep_table(rows: Sequence[dict[str, Any]], template_mb: int, recommended_mb: int | None) -> Table:
    def note(mb: int) -> str:
        marks = [label for label, size in (("template", template_mb), ("recommended", recommended_mb)) if size == mb]
        return ", ".join(marks)

    return Table(
        ["memory MB", "warm p50 ms", "billed ms", "$ per million", "cold init+1st ms", "note"],
        [
            [
                str(int(row["memory_mb"])),
                num(row["warm_p50_ms"]),
                num(row["billed_ms"], 2),
                num(row["cost"], 3),
                num(row["cold_ms"], 0),
                note(int(row["memory_mb"])),
            ]
            for row in rows
        ],
    )
