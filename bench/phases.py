"""The measurements: cold rounds, the profiled cold child, warm blocks, and the latency phase's sweep
over Twilio latencies, each through the children `bench.harness` starts."""

from __future__ import annotations

import json
import math
import re
import time
from typing import Any

from bench import child
from bench.harness import COLD_TIMEOUT_S, READY_TIMEOUT_S, Run, log
from bench.stats import median
from bench.summaries import SUBJECTS

# Unmeasured events per warm child before the latency phase measures: enough to open its connections.
LATENCY_WARMUP = 10


def _turn(index: int) -> tuple[str, ...]:
    """The subjects' order in round or block `index`: each goes first in turn, so none always runs on the
    warmer machine."""
    shift = index % len(SUBJECTS)
    return SUBJECTS[shift:] + SUBJECTS[:shift]


def cold_phase(
    run: Run, rounds: int, *, env: dict[str, str] | None = None, label: str = ""
) -> dict[str, list[dict[str, Any]]]:
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in SUBJECTS}
    for index in range(rounds):
        if not run.time_left():
            run.invalid.append(f"run budget spent after {index} cold rounds{label}")
            break
        for name in _turn(index):
            before = run.udm_requests()
            process = run.spawn(run.subjects[name], "cold", env=env)
            result = process.read(COLD_TIMEOUT_S)
            process.finish()
            result["twilio_requests"] = run.udm_requests() - before
            _check_child(run, f"cold {name} round {index + 1}{label}", result)
            results[name].append(result)
        last = {name: results[name][-1] for name in SUBJECTS}
        latest = ", ".join(
            f"{name} {r.get('init_ms', math.nan):.0f} + {r.get('first_ms', math.nan):.0f}" for name, r in last.items()
        )
        log(f"cold round {index + 1}/{rounds}{label}: init + first event ms: {latest}")
    return results


def _check_child(run: Run, label: str, result: dict[str, Any]) -> None:
    if "error" in result:
        raise RuntimeError(f"{label}: the child failed:\n{result['error']}")
    if not result.get("ok"):
        run.invalid.append(
            f"{label}: first event answered {result.get('first_status')} {str(result.get('first_body'))[:300]}"
        )
    if result.get("foreign_modules"):
        run.invalid.append(f"{label}: imported from outside the artefacts: {result['foreign_modules'][:10]}")


_IMPORTTIME = re.compile(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)")


def importtime_phase(run: Run) -> dict[str, Any]:
    """One more cold bridge child under -X importtime and cProfile: where Init and the first event go."""
    process = run.spawn(run.subjects["bridge"], "cold", python_flags=("-X", "importtime"), profile_first=True)
    result = process.read(COLD_TIMEOUT_S)
    process.finish()
    _check_child(run, "profiled cold child", result)
    phases: dict[str, list[tuple[float, float, str, int]]] = {"init": [], "first_event": []}
    phase = "init"
    for line in process.stderr_path.read_text(errors="replace").splitlines():
        if line.strip() == child.INIT_DONE_MARKER:
            phase = "first_event"
        found = _IMPORTTIME.match(line)
        if found:
            depth = (len(found.group(3)) - 1) // 2
            phases[phase].append((int(found.group(1)) / 1000, int(found.group(2)) / 1000, found.group(4), depth))
    return {
        "init_ms": result.get("init_ms"),
        "first_event_ms": result.get("first_ms"),
        "imports": {name: _import_summary(entries) for name, entries in phases.items()},
        "first_event": result.get("first_event_profile", {}),
    }


def _import_summary(entries: list[tuple[float, float, str, int]]) -> dict[str, Any]:
    packages: dict[str, float] = {}
    for self_ms, _, module, _ in entries:
        packages[module.split(".")[0]] = packages.get(module.split(".")[0], 0.0) + self_ms
    top = sorted(entries, key=lambda entry: entry[1], reverse=True)[:15]
    return {
        "modules": len(entries),
        "total_ms": sum(entry[1] for entry in entries if entry[3] == 0),
        "top": [{"module": m, "self_ms": s, "cumulative_ms": c} for s, c, m, _ in top],
        "packages": sorted(packages.items(), key=lambda item: item[1], reverse=True)[:10],
    }


class WarmSet:
    """One long-lived child per subject, started together; blocks of events run through them in turn."""

    def __init__(self, run: Run, *, env: dict[str, str] | None = None, warmup: int | None = None) -> None:
        self.run = run
        self.children = {
            name: run.spawn(subject, "warm", env=env, warmup=warmup) for name, subject in run.subjects.items()
        }
        self.ready: dict[str, dict[str, Any]] = {}
        try:
            for name, process in self.children.items():
                ready = process.read(READY_TIMEOUT_S + (run.args.warmup if warmup is None else warmup))
                _check_child(run, f"warm {name} start", ready)
                if not ready.get("hooked_clients"):
                    run.invalid.append(f"warm {name}: no botocore client found to count DynamoDB calls on")
                if ready.get("warmup_failures"):
                    run.invalid.append(f"warm {name}: {ready['warmup_failures']} warm-up events failed")
                self.ready[name] = ready
        except BaseException:
            self.kill()
            raise

    def blocks(
        self, events: int, blocks: int, *, label: str = "", seconds_per_event: float = 0.2
    ) -> dict[str, dict[str, Any]]:
        """`events` per subject in `blocks` blocks, the subjects in turn within each block."""
        run = self.run
        blocks = max(1, min(blocks, events))
        size = math.ceil(events / blocks)
        out: dict[str, dict[str, Any]] = {
            name: {"blocks": [], "twilio_requests": [], "ready": self.ready[name]} for name in self.children
        }
        for index in range(blocks):
            if not run.time_left():
                run.invalid.append(f"run budget spent after {index} warm blocks{label}")
                break
            for name in _turn(index):
                budget = 60 + seconds_per_event * size
                before = run.udm_requests()
                self.children[name].send({"cmd": "block", "events": size, "budget_s": budget})
                block = self.children[name].read(budget + 60)
                out[name]["twilio_requests"].append(run.udm_requests() - before)
                out[name]["blocks"].append(block)
                if block["failures"]:
                    samples = json.dumps(block["failure_samples"])[:400]
                    run.invalid.append(
                        f"warm {name} block {index + 1}{label}: {block['failures']} events failed: {samples}"
                    )
                if block["events"] < size:
                    run.invalid.append(f"warm {name} block {index + 1}{label}: ran out of time after {block['events']}")
            p50 = ", ".join(f"{name} {median(out[name]['blocks'][-1]['wall_ms']):.2f}" for name in out)
            log(f"warm block {index + 1}/{blocks}{label}: p50 ms {p50}")
        return out

    def profile(self, events: int) -> dict[str, Any]:
        """The bridge's CPU under cProfile (not part of the statistics: cProfile slows every call it sees)."""
        size = min(200, events)
        self.children["bridge"].send({"cmd": "block", "events": size, "budget_s": 120, "profile": True})
        profiled = self.children["bridge"].read(180)
        return {"events": profiled["events"], **profiled.get("profile", {})}

    def close(self, label: str = "") -> dict[str, dict[str, Any]]:
        """Ends every child: its final line (peak RSS, foreign modules) and the bytes it logged."""
        out: dict[str, dict[str, Any]] = {}
        try:
            for name, process in self.children.items():
                process.send({"cmd": "exit"})
                final = process.read(60)
                process.finish()
                if final.get("foreign_modules"):
                    self.run.invalid.append(
                        f"warm {name}{label}: imported from outside: {final['foreign_modules'][:10]}"
                    )
                log_bytes = process.log_path.stat().st_size if process.log_path.exists() else 0
                out[name] = {"final": final, "log_bytes": log_bytes}
        finally:
            self.kill()
        return out

    def kill(self) -> None:
        for process in self.children.values():
            process.kill()


def warm_phase(run: Run, events: int, blocks: int) -> dict[str, dict[str, Any]]:
    warm = WarmSet(run)
    try:
        out = warm.blocks(events, blocks)
        if run.args.profile and run.time_left():
            out["bridge"]["profile"] = warm.profile(events)
            out["bridge"]["profiled_events"] = out["bridge"]["profile"]["events"]
    except BaseException:
        warm.kill()
        raise
    for name, closing in warm.close().items():
        out[name].update(closing)
        measured = sum(block["events"] for block in out[name]["blocks"])
        out[name]["events_total"] = 1 + run.args.warmup + measured + out[name].get("profiled_events", 0)
    return out


def latency_phase(run: Run) -> dict[str, Any]:
    """The three subjects again, cold and warm, with round trips on the local endpoints: every DynamoDB
    and Secrets Manager request through a proxy that waits --dynamodb-ms, every UDM answer held back
    by each --twilio-ms in turn. The warm children live through the whole sweep (their connections
    stay warm, as a Lambda environment's do); cold rounds start fresh processes at each latency."""
    from local.dynamo_faults import DynamoFaultProxy

    args = run.args
    emulator = run.stack.emulator
    proxy = DynamoFaultProxy(run.stack.aws_endpoint, latency_ms=args.dynamodb_ms).start()
    env = {"AWS_ENDPOINT_URL": proxy.url}
    points: list[dict[str, Any]] = []
    warm: WarmSet | None = None
    started = time.monotonic()
    try:
        emulator.set_udm_latency(args.twilio_ms[0])
        warm = WarmSet(run, env=env, warmup=min(args.warmup, LATENCY_WARMUP))
        for twilio_ms in args.twilio_ms:
            if not run.time_left():
                run.invalid.append(f"run budget spent before Twilio {twilio_ms:g} ms")
                break
            emulator.set_udm_latency(twilio_ms)
            label = f" at Twilio {twilio_ms:g} ms"
            cold = cold_phase(run, args.latency_rounds, env=env, label=label)
            # Per event: the Twilio wait, a few DynamoDB round trips, and CPU; generous, it only bounds a hang.
            per_event_s = 0.2 + (twilio_ms + 10 * args.dynamodb_ms) / 1000
            blocks = warm.blocks(
                args.latency_events, max(1, args.latency_events // 5), label=label, seconds_per_event=per_event_s
            )
            points.append({"twilio_ms": twilio_ms, "cold": cold, "warm": blocks})
        closing = warm.close(" (latency phase)")
        warm = None
        for point in points:
            for name, data in point["warm"].items():
                data["final"] = closing[name]["final"]  # the child's peak RSS over the whole sweep
    finally:
        if warm is not None:
            warm.kill()
        emulator.set_udm_latency(0)
        proxy.stop()
    return {
        "dynamodb_ms": args.dynamodb_ms,
        "twilio_ms": list(args.twilio_ms),
        "points": points,
        "proxy": proxy.stats,
        "seconds": round(time.monotonic() - started, 1),
    }
