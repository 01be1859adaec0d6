"""`python -m bench.burst`'s options and their defaults.

The defaults offer 10x what the emulated Twilio account can take: 25 events a second x a 400 ms
round trip is 10 requests' worth in flight, against a limit of 1. The account is scaled down, not
the burst scaled up, because this machine's two cores run the whole stack, moto standing in for
DynamoDB on one of them: at 50 events a second moto's latency spikes (~1.3 s) held enough ingest
invocations open to reach the reserved concurrency of 50 in some runs, which DynamoDB would not
cause. The ratio is what a real account would meet at 10x its own limit.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.figures import FIGURES, ROOT

BURST_FIGURES = FIGURES / "burst.md"
CAPACITY_FIGURES = FIGURES / "capacity.md"
RESULTS = ROOT / "bench" / "results"

DEFAULTS = {
    "events": 1500,
    "seconds": 60.0,
    "calls": 300,
    "no_one": 0.10,
    "duplicates": 0.10,
    "twilio_limit": 1,
    "twilio_ms": 400.0,
    "retry_after": 1,
    "sender_attempts": 4,
    "retry_compression": 60.0,
    "sender_timeout": 15.0,
    "hold_seconds": 60,
    "settle_seconds": 90.0,
    "seed": 24,
}
QUICK = {"events": 500, "seconds": 20.0, "calls": 40, "hold_seconds": 20, "settle_seconds": 40.0}
# The calibration before the burst: a steady trickle Twilio keeps up with (no limit, its typical round
# trip), for what one event takes when nothing throttles, after a few unmeasured events have built the
# containers' clients. Events and seconds, full and --quick; the warm-up's likewise.
CALIBRATION = (100, 20.0)
QUICK_CALIBRATION = (40, 8.0)
WARM_UP = (10, 5.0)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.burst",
        description=(
            "Drive the local stack with a bounded burst of signed webhooks against an emulated Twilio "
            "concurrency limit; print what senders saw, what was delivered, duplicated, ledgered or lost, and "
            f"each function's peak concurrency; save JSON; a full run writes {BURST_FIGURES.relative_to(ROOT)} "
            f"and {CAPACITY_FIGURES.relative_to(ROOT)}."
        ),
    )
    add = parser.add_argument
    add("--quick", action="store_true", help="a smoke run: 500 events in 20 s across 40 calls")
    add("--events", type=int, help=f"events offered (default {DEFAULTS['events']})")
    add("--seconds", type=float, help=f"over how many seconds (default {DEFAULTS['seconds']:g})")
    add("--calls", type=int, help=f"live calls the events go to (default {DEFAULTS['calls']})")
    add("--no-one", type=float, help="share of events that concern no one (default 0.10)")
    add("--duplicates", type=float, help="share of events a sender sends twice (default 0.10)")
    add("--twilio-limit", type=int, help=f"Twilio requests in flight at once (default {DEFAULTS['twilio_limit']})")
    add("--twilio-ms", type=float, help=f"Twilio's UDM round trip (default {DEFAULTS['twilio_ms']:g})")
    add("--retry-after", type=int, help="Retry-After of Twilio's 429 (default 1)")
    add("--sender-attempts", type=int, help="attempts a sender makes at one delivery (default 4)")
    add("--retry-compression", type=float, help="Svix's retry schedule divided by this (default 60)")
    add("--sender-timeout", type=float, help="seconds a sender waits for an answer (default 15)")
    add(
        "--hold-seconds",
        type=int,
        help="MaxHoldSeconds: how long a throttled event may wait for Twilio before the ledger (default 60; "
        "the template's 300 would outlast the run)",
    )
    add("--settle-seconds", type=float, help="most seconds to wait for parked events after the senders (default 90)")
    add("--ingest-concurrency", type=int, help="IngestFunction's concurrency (default: the template's)")
    add("--seed", type=int, help="the plan's random seed (default 24)")
    add("--results", type=Path, default=RESULTS, help="where the JSON goes (default bench/results/)")
    docs = parser.add_mutually_exclusive_group()
    docs.add_argument("--write-docs", action="store_true", help="write the docs' figures from any valid run")
    docs.add_argument("--no-docs", action="store_true", help="never write the docs' figures")
    args = parser.parse_args(argv)
    changed = [name for name in (*DEFAULTS, "ingest_concurrency") if getattr(args, name) is not None]
    base = {**DEFAULTS, **(QUICK if args.quick else {})}
    for name, value in base.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.changed = changed
    return args


def docs_decision(args: argparse.Namespace) -> tuple[bool, str]:
    """Whether this run writes the docs' figures, and why: a full run with the defaults does."""
    if args.no_docs:
        return False, "--no-docs"
    if args.write_docs:
        return True, "--write-docs"
    if args.quick or args.changed:
        flags = ["--quick"] if args.quick else []
        flags += ["--" + name.replace("_", "-") for name in args.changed]
        return False, f"{', '.join(flags)} changed what is measured (--write-docs writes it anyway)"
    return True, "a full run with the defaults"
