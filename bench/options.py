"""`python -m bench`'s options: what a run measures, how much of it, and whether it writes the docs' figures."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.figures import BENCH_FIGURES, ROOT

DESCRIPTION = (
    "Benchmark the bridge against an exactly-once floor and a minimal baseline: print the report, save it "
    f"as JSON and, on a full run, write {BENCH_FIGURES.relative_to(ROOT)}."
)
RESULTS = ROOT / "bench" / "results"

# The latency phase's defaults: a DynamoDB round trip in-region, and Twilio's API answering a UDM
# from near (50 ms), typical (150 ms) and far or slow (400 ms).
DEFAULT_DYNAMODB_MS = 4.0
DEFAULT_TWILIO_MS = (50.0, 150.0, 400.0)

# The options that change what is measured, by dest and flag: docs/figures/bench.md reports a run with
# none of them changed, so a smoke run cannot replace the published figures by accident.
MEASURED = {
    "quick": "--quick",
    "rounds": "--rounds",
    "events": "--events",
    "warmup": "--warmup",
    "compile": "--no-compile",
    "nagle": "--nagle",
    "twilio_ms": "--twilio-ms",
    "dynamodb_ms": "--dynamodb-ms",
    "latency": "--no-latency",
    "latency_rounds": "--latency-rounds",
    "latency_events": "--latency-events",
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=DESCRIPTION)
    parser.add_argument("--quick", action="store_true", help="a smoke run: 3 rounds, 300 warm events")
    parser.add_argument("--rounds", type=int, help="cold rounds per subject, and warm blocks (default 10)")
    parser.add_argument("--events", type=int, help="warm events per subject (default 3000)")
    parser.add_argument("--warmup", type=int, help="unmeasured warm-up events per warm child (default 50)")
    parser.add_argument(
        "--no-compile",
        dest="compile",
        action="store_false",
        help="ship no bytecode (SAM's python builder); by default the artefacts carry unchecked-hash .pyc files "
        "as layers/bridge/Makefile builds them",
    )
    parser.add_argument(
        "--no-profile",
        dest="profile",
        action="store_false",
        help="skip the profiles (-X importtime and cProfile of a cold child, cProfile of warm events)",
    )
    parser.add_argument(
        "--nagle",
        action="store_true",
        help="leave Nagle's algorithm on in moto's server and the emulator, as local/ ships them "
        "(adds a ~40 ms delayed-ACK stall per UDM POST on Linux loopback)",
    )
    parser.add_argument(
        "--twilio-ms",
        type=_milliseconds,
        default=DEFAULT_TWILIO_MS,
        help="latency phase: the Twilio UDM latencies to measure at, comma-separated (default 50,150,400)",
    )
    parser.add_argument(
        "--dynamodb-ms",
        type=float,
        default=DEFAULT_DYNAMODB_MS,
        help="latency phase: added to every DynamoDB and Secrets Manager request (default 4)",
    )
    parser.add_argument("--no-latency", dest="latency", action="store_false", help="skip the latency phase")
    # Ten, as on loopback: on a 2-core machine one cold round's ratio ranges over a third either way.
    parser.add_argument("--latency-rounds", type=int, help="latency phase: cold rounds per latency (default 10)")
    parser.add_argument("--latency-events", type=int, help="latency phase: warm events per subject (default 80)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the JSON goes (default bench/results)")
    docs = parser.add_mutually_exclusive_group()
    docs.add_argument(
        "--write-docs",
        dest="docs",
        action="store_const",
        const=True,
        help="write docs/figures/bench.md from any valid run, --quick too (by default only a full run writes it)",
    )
    docs.add_argument(
        "--no-docs", dest="docs", action="store_const", const=False, help="leave docs/figures/bench.md alone"
    )
    args = parser.parse_args(argv)
    quick = args.quick
    args.rounds = args.rounds if args.rounds is not None else (3 if quick else 10)
    args.events = args.events if args.events is not None else (300 if quick else 3000)
    args.warmup = args.warmup if args.warmup is not None else (10 if quick else 50)
    args.latency_rounds = args.latency_rounds if args.latency_rounds is not None else (1 if quick else 10)
    args.latency_events = args.latency_events if args.latency_events is not None else (10 if quick else 80)
    for name in ("rounds", "events", "latency_rounds", "latency_events"):
        if not 1 <= getattr(args, name) <= 100_000:
            parser.error(f"--{name.replace('_', '-')} must be between 1 and 100000")
    if not 0 <= args.dynamodb_ms <= 10_000:
        parser.error("--dynamodb-ms must be between 0 and 10000")
    if not 0 <= args.warmup <= 10_000:
        parser.error("--warmup must be between 0 and 10000")
    return args


def _milliseconds(text: str) -> tuple[float, ...]:
    """`--twilio-ms 50,150,400`: one or more latencies, each 0..60000 ms."""
    try:
        values = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of milliseconds: {text!r}") from None
    if not values or not all(0 <= value <= 60_000 for value in values):
        raise argparse.ArgumentTypeError("give one or more latencies between 0 and 60000 ms")
    return values


def docs_decision(args: argparse.Namespace) -> tuple[bool, str]:
    """Whether this run writes docs/figures/bench.md, and why (or why not)."""
    if args.docs is not None:
        return args.docs, "--write-docs" if args.docs else "--no-docs"
    defaults = vars(parse_args([]))
    changed = [flag for name, flag in MEASURED.items() if getattr(args, name) != defaults[name]]
    if changed:
        return False, f"not a full run (non-default {', '.join(changed)}; --write-docs writes it anyway)"
    return True, "a full run"
