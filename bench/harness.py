"""The run's world: the artefacts, the local stack and the children's environment (`Run`), and one
child process speaking JSON lines (`Child`). The phases (bench/phases.py) drive them."""

from __future__ import annotations

import argparse
import inspect
import json
import os
import queue
import socketserver
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from bench import build as builder
from bench import child

CHILD = Path(child.__file__).resolve()
FUNCTION = "IngestFunction"
COLD_TIMEOUT_S = 180.0
READY_TIMEOUT_S = 180.0
# Bounds a whole run: past this no new round or block starts.
RUN_BUDGET_S = 20 * 60

# The parent's clients only ever talk to moto: placeholder credentials unless given, no metadata service.
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
        from bridge import bootstrap
        from bridge.settings import RegistrySettings

        key = f"identity:bench-{uuid.uuid4().hex[:12]}"
        call = self.stack.emulator.create_call(self.stack.credentials.account.account_sid, status="in-progress")
        settings = RegistrySettings(self.env["CALLS_TABLE"])
        registry = bootstrap.registry(settings, client=self.stack.client("dynamodb"))
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
