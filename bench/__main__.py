"""`python -m bench [--quick] [--rounds N] [--events N] [--no-compile] [--twilio-ms 50,150,400] [--dynamodb-ms 4]
[--no-latency] [--write-docs | --no-docs]`: measure, print, save JSON; a full run also writes
docs/figures/bench.md. Options: bench/options.py; what each phase does: bench/README.md.

Exit status 0 when the run is valid (whatever the targets say), 2 when it is not (an event failed,
the child imported from outside its artefacts, or bytecode was written), 1 on a harness error.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import build as builder
from bench import cost_model, figures, report, snapstart_pricing, summaries
from bench.harness import Run, log
from bench.options import docs_decision, parse_args
from bench.phases import cold_phase, importtime_phase, latency_phase, warm_phase


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    started = datetime.now(UTC)
    wall0 = time.monotonic()
    meta: dict[str, Any] = {
        "timestamp": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": shlex.join(["python", "-m", "bench", *argv]),
        "options": {k: v for k, v in vars(args).items() if k != "results"},
        "machine": figures.machine(),
        "git": figures.git_state(),
        "build_platform": builder.interpreter()["platform"],
        "loopback_tcp_nodelay": not args.nagle,
    }
    scratch = Path(tempfile.mkdtemp(prefix="udm-bench-"))
    run: Run | None = None
    try:
        run = Run(args, scratch)
        meta["memory_mb"] = run.memory_mb
        log(f"local stack up: moto {run.stack.aws_endpoint}, Twilio emulator {run.stack.emulator.base_url}")
        cold = cold_phase(run, args.rounds)
        profile = importtime_phase(run) if args.profile else {}
        warm = warm_phase(run, args.events, args.rounds)
        latency: dict[str, Any] = latency_phase(run) if args.latency else {"skipped": True, "points": []}
        if not args.compile:
            for tree in run.trees():
                if builder.bytecode_files(tree):
                    run.invalid.append(f"bytecode was written into {tree.name}: the child was not read-only")
        subjects = summaries.SUBJECTS
        if not all(cold[name] for name in subjects) or not all(warm[name]["blocks"] for name in subjects):
            run.invalid.append("no complete measurement")
            raise RuntimeError("no complete measurement: " + "; ".join(run.invalid))
        summary: dict[str, Any] = {
            "cold": summaries.summarize_cold(cold),
            "warm": summaries.summarize_warm(warm, run.memory_mb),
        }
        summary["memory_sweep"] = cost_model.memory_sweep(summary["cold"], summary["warm"])
        if args.latency:
            summary["latency"] = summaries.summarize_latency(latency, run.memory_mb)
            if len(summary["latency"]["points"]) < len(args.twilio_ms):
                run.invalid.append("the latency phase did not measure every Twilio latency")
        else:
            summary["latency"] = {"skipped": True}
        summary["snapstart"] = snapstart_pricing.snapstart_for(summary, run.memory_mb)
        summary["targets"] = summaries.targets(summaries.target_phases(summary))
        meta["wall_seconds"] = round(time.monotonic() - wall0, 1)
        meta["machine"]["load_end"] = " ".join(f"{n:.2f}" for n in os.getloadavg())
        result = {
            "meta": meta,
            "build": run.artefacts.as_dict(),
            "valid": not run.invalid,
            "invalid_reasons": run.invalid,
            "summary": summary,
            "profile": {"cold": profile, "warm": warm["bridge"].get("profile", {})},
            "runtime_origins": cold["bridge"][0].get("runtime_origins", {}),
            "raw": {
                "cold": cold,
                "warm": _without_samples(warm),
                "latency": [{**point, "warm": _without_samples(point["warm"])} for point in latency.get("points", [])],
            },
            "prices": _prices(),
        }
        text = report.render(result)
        print(text, end="")
        saved = save(result, args.results, started)
        write_docs(args, result, started)
        print(f"wall time {meta['wall_seconds']:.0f} s; results: {saved}")
        return 0 if result["valid"] else 2
    finally:
        if run is not None:
            run.close()
        builder.make_writable(scratch)  # the artefacts were made read-only
        shutil.rmtree(scratch, ignore_errors=True)


def _prices() -> dict[str, Any]:
    return {
        "as_of": cost_model.PRICES_AS_OF,
        "http_api_per_million": cost_model.HTTP_API_PER_MILLION,
        "lambda_requests_per_million": cost_model.LAMBDA_REQUESTS_PER_MILLION,
        "lambda_arm64_per_gb_second": cost_model.LAMBDA_ARM64_PER_GB_SECOND,
        "dynamodb_per_million_rru": cost_model.DYNAMODB_PER_MILLION_RRU,
        "dynamodb_per_million_wru": cost_model.DYNAMODB_PER_MILLION_WRU,
        "snapstart_as_of": snapstart_pricing.SNAPSTART_PRICES_AS_OF,
        "snapstart_sources": snapstart_pricing.SNAPSTART_PRICE_SOURCES,
        "snapstart_cache_per_gb_second": snapstart_pricing.SNAPSTART_CACHE_PER_GB_SECOND,
        "snapstart_restore_per_gb": snapstart_pricing.SNAPSTART_RESTORE_PER_GB,
        "provisioned_arm64_per_gb_second": snapstart_pricing.PROVISIONED_ARM64_PER_GB_SECOND,
        "init_billed_since": snapstart_pricing.INIT_BILLED_SINCE,
    }


def _without_samples(warm: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per-event samples stay in the JSON, rounded, so a later look can re-derive any percentile."""
    out: dict[str, Any] = {}
    for name, data in warm.items():
        blocks = [
            {
                **block,
                "wall_ms": [round(v, 3) for v in block["wall_ms"]],
                "cpu_ms": [round(v, 3) for v in block["cpu_ms"]],
            }
            for block in data["blocks"]
        ]
        out[name] = {**data, "blocks": blocks}
    return out


def save(result: dict[str, Any], directory: Path, started: datetime) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    text = json.dumps(result, indent=1, default=str)
    path.write_text(text)
    (directory / "latest.json").write_text(text)
    return path


def write_docs(args: argparse.Namespace, result: dict[str, Any], started: datetime) -> None:
    """docs/figures/bench.md from a full, valid run (or as --write-docs / --no-docs say); stderr says which."""
    target = figures.BENCH_FIGURES.relative_to(figures.ROOT)
    write, reason = docs_decision(args)
    if write and not result["valid"]:
        write, reason = False, "the run is invalid, so its figures are not for quoting"
    if not write:
        log(f"{target} left as it was: {reason}")
        return
    figures.write(
        figures.BENCH_FIGURES, figures.stamp(result["meta"]["command"], started), report.render_markdown(result)
    )
    log(f"{target} written ({reason})")


if __name__ == "__main__":
    raise SystemExit(main())
