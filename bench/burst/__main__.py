"""`python -m bench.burst` (`make bench-burst`): a bounded burst of signed webhooks against the local
stack while the emulated Twilio account enforces its concurrency limit. Prints the report, saves
JSON under bench/results/, and a full run writes docs/figures/burst.md and docs/figures/capacity.md.

Exit status 0 when the run is valid (whatever the goals say), 2 when it is not, 1 on a harness error.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import figures
from bench.burst import report
from bench.burst.capacity import capacity
from bench.burst.options import (
    BURST_FIGURES,
    CALIBRATION,
    CAPACITY_FIGURES,
    QUICK_CALIBRATION,
    WARM_UP,
    docs_decision,
    parse_args,
)
from bench.burst.plan import plan, recipients, retry_delays
from bench.burst.tally import Burst, offered_load, tally
from bench.tables import markdown, text

SENDER_WORKERS = 200  # senders' connections: enough that none of them waits for another
RUN_BUDGET_SECONDS = 300.0
ENV = ("AWS_EC2_METADATA_DISABLED", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


def log(message: str) -> None:
    print(f"[bench-burst] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    started = datetime.now(UTC)
    wall0 = time.monotonic()
    args.results.mkdir(parents=True, exist_ok=True)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    # The handlers log a JSON line per invocation, and Powertools writes to stdout: a file, not the terminal.
    console, log_path = sys.stdout, args.results / f"burst-{stamp}.log"
    with log_path.open("w", encoding="utf-8") as handler_log:
        logging.basicConfig(stream=handler_log, level=logging.INFO, force=True)
        logging.captureWarnings(True)  # Powertools warns per invocation (a dimension added twice)
        sys.stdout = handler_log
        try:
            result = measure(args, started, wall0)
        finally:
            sys.stdout = console
    result["meta"]["command"] = shlex.join(["make", "bench-burst", *(["ARGS=" + shlex.join(argv)] if argv else [])])
    result["meta"]["handler_log"] = str(log_path)
    print(text(_report(result)), end="")
    saved = _save(result, args.results, stamp)
    _write_docs(args, result, started)
    print(f"wall time {result['wall_seconds']:.0f} s; results: {saved}")
    return 0 if result["valid"] else 2


def measure(args: Any, started: datetime, wall0: float) -> dict[str, Any]:
    from bench.burst.collector import Collector
    from bench.burst.world import World
    from local.lambda_runtime import RUNTIME

    phases: dict[str, float] = {}
    invalid: list[str] = []
    collector = Collector()
    mark = time.monotonic()
    limits = {"IngestFunction": args.ingest_concurrency} if args.ingest_concurrency else {}
    world = World(limits, hold_seconds=args.hold_seconds)
    try:
        phases["stack"] = time.monotonic() - mark
        log(f"stack up: front {world.front}, moto {world.moto.url} (own process), Twilio {world.emulator.base_url}")
        calls = world.register(recipients(args.calls))
        phases["register"] = calls.seconds
        if not world.settle(60):
            invalid.append("the streams did not settle after the calls registered")
        log(f"{args.calls} calls registered through status callbacks in {calls.seconds:.1f} s")

        mark = time.monotonic()
        calibration = _calibrate(args, world)
        phases["calibrate"] = time.monotonic() - mark

        events = plan(
            args.events, args.seconds, args.calls, no_one=args.no_one, duplicates=args.duplicates, seed=args.seed
        )
        world.emulator.set_udm_latency(args.twilio_ms)
        world.emulator.set_concurrency_limit(args.twilio_limit, retry_after=args.retry_after)
        RUNTIME.reset_counters()
        world.emulator.reset_concurrency_counters()
        stats0, moto0 = world.emulator.stats(), world.moto.snapshot()
        processes0 = (moto0["process_cpu_seconds"], time.process_time())

        mark = time.monotonic()
        delays = retry_delays(args.retry_compression, args.sender_attempts)
        start_at, attempts = _send(args, world, events, delays)
        phases["burst"] = time.monotonic() - mark
        log(f"senders done: {len(attempts):,} sends in {phases['burst']:.0f} s; waiting for parked events")
        phases["settle"] = world.drain(args.settle_seconds)

        mark = time.monotonic()
        stats1, moto1 = world.emulator.stats(), world.moto.snapshot()
        processes1 = (moto1["process_cpu_seconds"], time.process_time())
        pauses = {"moto": moto1["collections"], "stack": collector.summary()}
        functions = world.stack.concurrency()
        # Parked first: an event the flusher moves on while this reads is then counted parked, not lost.
        parked = world.items("ParkedTable")
        burst = Burst(
            plan=[event.as_dict() for event in events],
            attempts=attempts,
            messages=[m for m in world.messages() if (m["created_at"] or start_at) >= start_at],
            ledger=world.items("LedgerTable"),
            parked=parked,
            calls=calls.by_key,
            started=start_at,
            seconds=args.seconds,
            twilio_limit=args.twilio_limit,
            twilio_ms=args.twilio_ms,
        )
        found = tally(burst)
        memory_mb = world.stack.functions["IngestFunction"].memory
        route_limit = _route_limit(world.stack.template.resources)
        phases["collect"] = time.monotonic() - mark
    finally:
        world.close()
        collector.stop()

    planned = {(event.index, 0) for event in events} | {(e.index, 1) for e in events if e.duplicate_at is not None}
    unsent = planned - {(int(a["i"]), int(a["copy"])) for a in attempts}
    if unsent:
        invalid.append(f"{len(unsent)} planned sends were never made")
    if found["foreign_udms"]:
        invalid.append(f"{found['foreign_udms']} messages at Twilio belong to no planned event")
    twilio_stats = {name: stats1[name] - stats0.get(name, 0) for name in stats1}
    twilio_stats["peak_in_flight"] = stats1["peak_in_flight"]
    operations = {name: count - moto0["counts"].get(name, 0) for name, count in moto1["counts"].items()}
    cpu0 = moto0["cpu_seconds"]
    moto_cpu = {name: round(spent - cpu0.get(name, 0.0), 2) for name, spent in moto1["cpu_seconds"].items()}
    wall = time.monotonic() - wall0
    if wall >= RUN_BUDGET_SECONDS:
        invalid.append(f"the run took {wall:.0f} s, over its {RUN_BUDGET_SECONDS:.0f} s budget")
    calibration["memory_mb"] = memory_mb
    if calibration["delivered"] < calibration["events"]:
        invalid.append(f"the calibration delivered {calibration['delivered']} of {calibration['events']} events")
    return {
        "meta": {
            "timestamp": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "machine": figures.machine(),
            "git": figures.git_state(),
            "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        },
        "load": {
            "events": args.events,
            "seconds": args.seconds,
            "per_second": args.events / args.seconds,
            "calls": args.calls,
            "no_one": args.no_one,
            "duplicates": args.duplicates,
            "twilio_limit": args.twilio_limit,
            "twilio_ms": args.twilio_ms,
            "retry_after": args.retry_after,
            "hold_seconds": args.hold_seconds,
            "offered_x": offered_load(args.events, args.seconds, args.twilio_ms, args.twilio_limit),
            "sender_timeout": args.sender_timeout,
            "sender_attempts": args.sender_attempts,
            "retry_compression": args.retry_compression,
        },
        "figures": found,
        "twilio_stats": twilio_stats,
        "functions": functions,
        "operations": operations,
        "moto_cpu_seconds": dict(sorted(moto_cpu.items(), key=lambda item: -item[1])),
        # Each process's garbage collections over the run (bench/burst/collector.py).
        "collections": pauses,
        # Each process's CPU over the burst and the settling: which of the two cores ran out first.
        "process_cpu_seconds": {
            "moto": round(processes1[0] - processes0[0], 1),
            "stack (handlers, front, emulator, senders)": round(processes1[1] - processes0[1], 1),
        },
        "calibration": calibration,
        "capacity": capacity(calibration, found["twilio"]["slot_use"], route_limit),
        "phases": {name: round(seconds, 1) for name, seconds in phases.items()},
        "wall_seconds": round(wall, 1),
        "valid": not invalid,
        "invalid_reasons": invalid,
        "attempts": attempts,
    }


def _calibrate(args: Any, world: Any) -> dict[str, Any]:
    """A steady trickle to the live calls, Twilio unlimited at its typical round trip: what one event
    takes when nothing throttles (bench/burst/capacity.py)."""
    from bench.burst.capacity import REFERENCE_TWILIO_MS
    from local.lambda_runtime import RUNTIME

    count, seconds = QUICK_CALIBRATION if args.quick else CALIBRATION
    delays = retry_delays(args.retry_compression, args.sender_attempts)
    world.emulator.set_udm_latency(REFERENCE_TWILIO_MS)
    # Unmeasured: the first events build what each container builds once (clients, the use case).
    _send(args, world, plan(*WARM_UP, args.calls, no_one=0.0, duplicates=0.0, seed=args.seed + 2), delays)
    world.drain(30)
    trickle = plan(count, seconds, args.calls, no_one=0.0, duplicates=0.0, seed=args.seed + 1)
    RUNTIME.reset_counters()
    operations0 = world.moto.operations()
    _, attempts = _send(args, world, trickle, delays)
    world.drain(30)
    operations1 = world.moto.operations()
    functions = world.stack.concurrency()
    delivered = len({attempt["i"] for attempt in attempts if attempt.get("outcome") == "delivered"})
    log(f"calibration: {delivered} of {count} events delivered in {seconds:g} s, Twilio at {REFERENCE_TWILIO_MS:g} ms")
    return {
        "events": count,
        "seconds": seconds,
        "sends": len(attempts),
        "delivered": delivered,
        "twilio_ms": REFERENCE_TWILIO_MS,
        "functions": {name: stats for name, stats in functions.items() if stats["invocations"]},
        "operations": {
            name: n - operations0.get(name, 0) for name, n in operations1.items() if n - operations0.get(name, 0)
        },
    }


def _send(args: Any, world: Any, events: list[Any], delays: list[float]) -> tuple[float, list[dict[str, Any]]]:
    """Runs the senders' process on the plan; returns the burst's start and every attempt they made."""
    start_at = time.time() + 2.0  # the senders' process starts in the meantime
    with tempfile.TemporaryDirectory(prefix="udm-burst-") as scratch:
        config = {
            "front": world.front,
            "secrets": world.secrets(),
            "plan": [event.as_dict() for event in events],
            "start_at": start_at,
            "retry_delays": delays,
            "timeout_seconds": args.sender_timeout,
            "workers": SENDER_WORKERS,
            "output": str(Path(scratch) / "attempts.jsonl"),
        }
        (Path(scratch) / "config.json").write_text(json.dumps(config))
        last = max((event.duplicate_at or event.at for event in events), default=0.0)
        bound = 2.0 + last + 2.0 + sum(delays) + (len(delays) + 1) * args.sender_timeout + 30.0
        completed = subprocess.run(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "bench.burst.sender", str(Path(scratch) / "config.json")],
            cwd=figures.ROOT,
            timeout=bound,
            check=False,
            capture_output=True,
            text=True,
        )
        if completed.returncode != 0:
            raise RuntimeError(f"the senders' process failed: {completed.stderr[-2000:]}")
        lines = Path(config["output"]).read_text(encoding="utf-8").splitlines()
    return start_at, [json.loads(line) for line in lines if line]


def _route_limit(resources: dict[str, Any]) -> float:
    """The HTTP API's default route throttling rate, from the template."""
    for resource in resources.values():
        if resource.get("Type") == "AWS::Serverless::HttpApi":
            settings = resource.get("Properties", {}).get("DefaultRouteSettings", {})
            if "ThrottlingRateLimit" in settings:
                return float(settings["ThrottlingRateLimit"])
    return float("inf")


def _report(result: dict[str, Any]) -> list[Any]:
    from bench.tables import GAP, Heading, Note, Title

    meta = result["meta"]
    return [
        Title(f"udm-bridge burst, {meta['timestamp']}"),
        Title(f"command:   {meta['command']}"),
        Title(f"code:      {meta['git']}"),
        Title("phases:    " + ", ".join(f"{name} {seconds:g} s" for name, seconds in result["phases"].items())),
        GAP,
        *report.blocks(result),
        GAP,
        Heading("Capacity"),
        *report.capacity_blocks(result),
        Note(f"handlers' logs: {meta['handler_log']}"),
    ]


def _save(result: dict[str, Any], directory: Path, stamp: str) -> Path:
    path = directory / f"burst-{stamp}.json"
    body = json.dumps(result, indent=1, default=str)
    path.write_text(body)
    (directory / "burst-latest.json").write_text(body)
    return path


def _write_docs(args: Any, result: dict[str, Any], started: datetime) -> None:
    write, reason = docs_decision(args)
    if write and not result["valid"]:
        write, reason = False, "the run is invalid, so its figures are not for quoting"
    targets = [path.relative_to(figures.ROOT) for path in (BURST_FIGURES, CAPACITY_FIGURES)]
    if not write:
        log(f"{targets[0]} and {targets[1]} left as they were: {reason}")
        return
    line = figures.stamp(result["meta"]["command"], started)
    figures.write(BURST_FIGURES, line, markdown(report.blocks(result)))
    figures.write(CAPACITY_FIGURES, line, markdown(report.capacity_blocks(result)))
    log(f"{targets[0]} and {targets[1]} written ({reason})")


if __name__ == "__main__":
    # Every client here talks to the local stack: placeholder credentials, no metadata service.
    for name, value in zip(ENV, ("true", "us-east-1", "local", "local"), strict=True):
        os.environ.setdefault(name, value)
    raise SystemExit(main())
