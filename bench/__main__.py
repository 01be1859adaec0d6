"""`python -m bench [--quick] [--rounds N] [--events N] [--no-compile] [--twilio-ms 50,150,400] [--dynamodb-ms 4]
[--no-latency]`: measure, print, save JSON.

Exit status 0 when the run is valid (whatever the targets say), 2 when it is not (an event failed,
the child imported from outside its artefacts, or bytecode was written), 1 on a harness error.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import platform
import queue
import re
import shlex
import shutil
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from bench import build as builder
from bench import child, cost_model, report, snapstart_pricing, summaries
from bench.stats import median

ROOT = Path(__file__).resolve().parent.parent
CHILD = Path(child.__file__).resolve()
RESULTS = ROOT / "bench" / "results"
FUNCTION = "IngestFunction"
COLD_TIMEOUT_S = 180.0
READY_TIMEOUT_S = 180.0
# Bounds a whole run: past this no new round or block starts.
RUN_BUDGET_S = 20 * 60
# Unmeasured events per warm child before the latency phase measures: enough to open its connections.
LATENCY_WARMUP = 10
# The latency phase's defaults: a DynamoDB round trip in-region, and Twilio's API answering a UDM
# from near (50 ms), typical (150 ms) and far or slow (400 ms).
DEFAULT_DYNAMODB_MS = 4.0
DEFAULT_TWILIO_MS = (50.0, 150.0, 400.0)

for _name, _value in {
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "x",
    "AWS_SECRET_ACCESS_KEY": "x",
}.items():
    os.environ.setdefault(_name, _value)


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Subject:
    name: str
    code_paths: tuple[Path, ...]
    handler: str
    function_name: str
    expect_status: int
    extra_env: tuple[tuple[str, str], ...] = ()


class Run:
    """Everything one benchmark run holds: artefacts, the local stack, the children's environment."""

    def __init__(self, args: argparse.Namespace, scratch: Path) -> None:
        from local import template
        from local.lambda_runtime import http_event
        from local.stack import LocalStack

        self.args = args
        self.scratch = scratch
        self.deadline = time.monotonic() + RUN_BUDGET_S
        self.invalid: list[str] = []
        self.artefacts = builder.build(scratch / "build", compile=args.compile, log=log)
        for tree in self.trees():
            builder.make_read_only(tree)

        if not args.nagle:
            # The local servers answer with headers and body in two writes; with Nagle on, the body
            # waits for a delayed ACK (~40 ms on Linux loopback). That stall is not Twilio's or AWS's.
            socketserver.StreamRequestHandler.disable_nagle_algorithm = True
        options: dict[str, Any] = {}
        if "streams" in inspect.signature(LocalStack).parameters:
            # Stream pollers would poll moto from this process all run long and invoke other functions
            # in it: noise on 2 cores, and not the ingest path (on AWS those are separate invocations).
            options["streams"] = False
        self.stack = LocalStack(**options).start()
        try:
            self._configure(template, http_event)
        except BaseException:
            self.stack.stop()
            raise

    def _configure(self, template: Any, http_event: Any) -> None:
        function = self.stack.functions[FUNCTION]
        self.memory_mb = function.memory
        self.timeout_s = function.timeout
        env = self.stack.environment()
        references = self.stack.references()
        env.update({name: template.resolve(value, references) for name, value in function.environment.items()})
        self.env = env
        account = self.stack.credentials.account
        self.subjects = {
            "bridge": Subject(
                "bridge",
                (self.artefacts.function, self.artefacts.layer_python),
                function.handler,
                FUNCTION,
                200,
            ),
            "floor": Subject(
                "floor",
                (self.artefacts.floor,),
                "app.lambda_handler",
                "FloorFunction",
                201,
                (
                    ("FLOOR_TWILIO_ACCOUNT_SID", account.account_sid),
                    ("FLOOR_TWILIO_AUTH_TOKEN", account.auth_token),
                ),
            ),
            "baseline": Subject(
                "baseline",
                (self.artefacts.baseline,),
                "app.lambda_handler",
                "BaselineFunction",
                201,
                (
                    ("BASELINE_TWILIO_ACCOUNT_SID", account.account_sid),
                    ("BASELINE_TWILIO_AUTH_TOKEN", account.auth_token),
                ),
            ),
        }
        self._http_event = http_event
        self._check_signing()

    def close(self) -> None:
        self.stack.stop()

    def trees(self) -> tuple[Path, ...]:
        artefacts = self.artefacts
        return (artefacts.layer, artefacts.function, artefacts.baseline, artefacts.floor)

    def time_left(self) -> bool:
        return time.monotonic() < self.deadline

    # -- the children's world -----------------------------------------------------------------------

    def _check_signing(self) -> None:
        body, moment = '{"probe": true}', int(time.time())
        expected = self.stack.sign(body, event_id="evt_probe", timestamp=moment)["webhook-signature"]
        ours = child.sign(self.stack.credentials.webhook_secret, "evt_probe", moment, body)
        if ours != expected:
            raise RuntimeError("bench.child.sign disagrees with the standardwebhooks package")

    def live_recipient(self) -> str:
        """A fresh key with an in-progress call at the emulator, registered as the bridge does."""
        from bridge import runtime

        key = f"identity:bench-{uuid.uuid4().hex[:12]}"
        call = self.stack.emulator.create_call(self.stack.credentials.account.account_sid, status="in-progress")
        registry = runtime.registry(self.env["CALLS_TABLE"], client=self.stack.client("dynamodb"))
        registry.register(key, str(call["sid"]), 4 * 3600)
        return key

    def event_template(self, recipient: str) -> dict[str, Any]:
        body = json.dumps(
            {
                "type": "crm.customer.identified",
                # Now, after the recipient's call registered: freshness lets it reach that call.
                "timestamp": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
                "to": recipient,
                "data": {"customer_id": "cus_042", "name": "Ada Lovelace", "tier": "gold"},
            }
        )
        event: dict[str, Any] = self._http_event(
            "POST", "/events", route_key="POST /events", headers=self.stack.sign(body), body=body
        )
        return event

    def child_env(self, subject: Subject, overrides: dict[str, str] | None = None) -> dict[str, str]:
        first = str(subject.code_paths[0])
        return {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
            **self.env,
            **(overrides or {}),
            # What Lambda sets for every function.
            "AWS_LAMBDA_FUNCTION_NAME": subject.function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            "LAMBDA_TASK_ROOT": first,
            "LAMBDA_RUNTIME_DIR": str(self.artefacts.runtime),
            # -I ignores it, so the child also runs with -B; kept for anything reading the environment.
            "PYTHONDONTWRITEBYTECODE": "1",
            **dict(subject.extra_env),
        }

    def spawn(
        self,
        subject: Subject,
        mode: str,
        *,
        python_flags: tuple[str, ...] = (),
        profile_first: bool = False,
        env: dict[str, str] | None = None,
        warmup: int | None = None,
    ) -> Child:
        tag = f"{subject.name}-{mode}-{uuid.uuid4().hex[:8]}"
        config: dict[str, Any] = {
            "subject": subject.name,
            "mode": mode,
            "code_paths": [str(path) for path in subject.code_paths],
            "runtime": str(self.artefacts.runtime),
            "handler": subject.handler,
            "function_name": subject.function_name,
            "memory_mb": self.memory_mb,
            "timeout_s": self.timeout_s,
            "expect_status": subject.expect_status,
            "event": self.event_template(self.live_recipient()),
            "webhook_secret": self.stack.credentials.webhook_secret,
            "log_path": str(self.scratch / f"{tag}.log"),
            "warmup": self.args.warmup if warmup is None else warmup,
            "budget_s": 120.0,
            "runtime_modules": list(builder.RUNTIME_MODULES),
            "profile_first": profile_first,
            "spawned_at": 0.0,
        }
        config_path = self.scratch / f"{tag}.json"
        stderr_path = self.scratch / f"{tag}.stderr"
        config["spawned_at"] = time.time()
        config_path.write_text(json.dumps(config))
        command = [sys.executable, "-I", "-B", *python_flags, str(CHILD), str(config_path)]
        stderr = stderr_path.open("w")
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and script
            command,
            cwd=subject.code_paths[0],  # Lambda's working directory is /var/task
            env=self.child_env(subject, env),
            stdin=subprocess.PIPE if mode == "warm" else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        stderr.close()
        return Child(process, Path(config["log_path"]), stderr_path)

    def udm_requests(self) -> int:
        return int(self.stack.emulator.stats()["udm_requests"])


class Child:
    """A running child: JSON lines in, JSON lines out, every wait bounded."""

    def __init__(self, process: subprocess.Popen[str], log_path: Path, stderr_path: Path) -> None:
        self.process = process
        self.log_path = log_path
        self.stderr_path = stderr_path
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, args=(process.stdout,), daemon=True).start()

    def _pump(self, stream: IO[str] | None) -> None:
        if stream is not None:
            for line in stream:
                self._lines.put(line)
        self._lines.put(None)

    def read(self, timeout: float) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            self.kill()
            raise RuntimeError(f"child gave no answer within {timeout:.0f} s; {self._stderr_tail()}") from None
        if line is None:
            self.process.wait(timeout=10)
            raise RuntimeError(f"child exited ({self.process.returncode}) early; {self._stderr_tail()}")
        loaded: dict[str, Any] = json.loads(line)
        return loaded

    def send(self, command: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()

    def finish(self, timeout: float = 30) -> None:
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def _stderr_tail(self) -> str:
        text = self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""
        return "stderr: " + (text[-3000:] or "(empty)")


# -- phases --------------------------------------------------------------------------------------------


def _turn(index: int) -> tuple[str, ...]:
    """The subjects' order in round or block `index`: each goes first in turn, so none always runs on the
    warmer machine."""
    shift = index % len(summaries.SUBJECTS)
    return summaries.SUBJECTS[shift:] + summaries.SUBJECTS[:shift]


def cold_phase(
    run: Run, rounds: int, *, env: dict[str, str] | None = None, label: str = ""
) -> dict[str, list[dict[str, Any]]]:
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in summaries.SUBJECTS}
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
        last = {name: results[name][-1] for name in summaries.SUBJECTS}
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


# -- the run -------------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "load_start": " ".join(f"{n:.2f}" for n in os.getloadavg()),
    }


def git_state() -> str:
    git = shutil.which("git")
    if git is None:
        return "git not found"

    def output(*args: str) -> str:
        completed = subprocess.run(  # noqa: S603 - git, fixed arguments
            [git, *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=10
        )
        return completed.stdout.strip()

    try:
        head, dirty = output("rev-parse", "--short", "HEAD"), output("status", "--porcelain")
    except (OSError, subprocess.SubprocessError):
        return "not a git checkout"
    return f"commit {head}" + (f" with {len(dirty.splitlines())} changed/untracked paths" if dirty else "")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
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
    parser.add_argument("--latency-rounds", type=int, help="latency phase: cold rounds per latency (default 3)")
    parser.add_argument("--latency-events", type=int, help="latency phase: warm events per subject (default 80)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the JSON goes (default bench/results)")
    args = parser.parse_args(argv)
    quick = args.quick
    args.rounds = args.rounds if args.rounds is not None else (3 if quick else 10)
    args.events = args.events if args.events is not None else (300 if quick else 3000)
    args.warmup = args.warmup if args.warmup is not None else (10 if quick else 50)
    args.latency_rounds = args.latency_rounds if args.latency_rounds is not None else (1 if quick else 3)
    args.latency_events = args.latency_events if args.latency_events is not None else (10 if quick else 80)
    for name in ("rounds", "events", "latency_rounds", "latency_events"):
        if not 1 <= getattr(args, name) <= 100_000:
            parser.error(f"--{name.replace('_', '-')} must be between 1 and 100000")
    if not 0 <= args.dynamodb_ms <= 10_000:
        parser.error("--dynamodb-ms must be between 0 and 10000")
    if not 0 <= args.warmup <= 10_000:
        parser.error("--warmup must be between 0 and 10000")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    started = datetime.now(UTC)
    wall0 = time.monotonic()
    meta: dict[str, Any] = {
        "timestamp": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": shlex.join(["python", "-m", "bench", *argv]),
        "options": {k: v for k, v in vars(args).items() if k != "results"},
        "machine": machine(),
        "git": git_state(),
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
        if not all(cold[name] for name in summaries.SUBJECTS) or not all(warm[n]["blocks"] for n in summaries.SUBJECTS):
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
            "prices": {
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
            },
        }
        text = report.render(result)
        print(text, end="")
        saved = save(result, args.results, started)
        print(f"wall time {meta['wall_seconds']:.0f} s; results: {saved}")
        return 0 if result["valid"] else 2
    finally:
        if run is not None:
            run.close()
        builder.make_writable(scratch)  # the artefacts were made read-only
        shutil.rmtree(scratch, ignore_errors=True)


def _milliseconds(text: str) -> tuple[float, ...]:
    """`--twilio-ms 50,150,400`: one or more latencies, each 0..60000 ms."""
    try:
        values = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of milliseconds: {text!r}") from None
    if not values or not all(0 <= value <= 60_000 for value in values):
        raise argparse.ArgumentTypeError("give one or more latencies between 0 and 60000 ms")
    return values


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


if __name__ == "__main__":
    raise SystemExit(main())
