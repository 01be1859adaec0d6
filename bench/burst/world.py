"""The burst's world: moto in a process of its own, the local stack with its HTTP front in this one (the
handlers, the emulator, the stream and queue pollers), the live calls, and what is read back at the
end (Twilio's messages with the moment each was created, the ledger, what is still parked, the AWS
operations, each function's concurrency)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bench.burst.aws import OPERATIONS_PATH
from bench.figures import ROOT
from local.twilio_emulator import TwilioEmulator

if TYPE_CHECKING:
    from local.stack import LocalStack
    from local.twilio_emulator.wire import Reply

# The senders' secrets in the webhook secret's JSON object.
SOURCES = ("default", "stripe")


class TimedEmulator(TwilioEmulator):
    """The emulator, noting the moment (Unix time) each message was created: Twilio's own
    date_created has whole seconds only."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.created_at: dict[str, float] = {}
        self._times = threading.Lock()

    def accept_udm(
        self, path: str, account_sid: str, call_sid: str, credentials: tuple[bytes, bytes] | None, body: bytes
    ) -> Reply:
        reply = super().accept_udm(path, account_sid, call_sid, credentials, body)
        if reply.status == 201:
            moment = time.time()
            sid = json.loads(reply.body)["sid"]
            with self._times:
                self.created_at.setdefault(sid, moment)  # a replay answers with the first one's SID
        return reply


class Moto:
    """moto's server in a child process (bench/burst/aws.py), which counts the bridge's operations."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.burst.aws"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        self.url = self._process.stdout.readline().strip()
        if not self.url.startswith("http://"):
            self.stop()
            raise RuntimeError("moto's process did not start")

    def operations(self) -> dict[str, int]:
        """The bridge's AWS operations so far, by X-Amz-Target."""
        counts: dict[str, int] = self.snapshot()["counts"]
        return counts

    def snapshot(self) -> dict[str, Any]:
        """Everything moto's process counted so far, read at one moment: operations ("counts"), CPU by
        operation ("cpu_seconds"), the stack's own pollers and sweeper prefixed "stack ", the whole
        process's CPU, its HTTP server's included ("process_cpu_seconds"), and its garbage
        collections ("collections", bench/burst/collector.py)."""
        with urllib.request.urlopen(self.url + OPERATIONS_PATH, timeout=10) as answer:  # noqa: S310 - loopback
            found: dict[str, Any] = json.loads(answer.read())
        return found

    def stop(self) -> None:
        if self._process.poll() is None:
            if self._process.stdin is not None:
                self._process.stdin.close()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)


@dataclass
class Calls:
    """The live calls: each recipient key and the SDK leg that registered under it."""

    by_key: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


class World:
    def __init__(self, function_concurrency: dict[str, int], hold_seconds: int) -> None:
        from local.stack import LocalStack

        self.moto = Moto()
        try:
            self.stack: LocalStack = LocalStack(
                front_port=0, aws_endpoint=self.moto.url, function_concurrency=function_concurrency
            )
            self.emulator = TimedEmulator([self.stack.credentials.account], host=self.stack.host)
            self.stack.emulator = self.emulator
            self.stack.start()
            self.stack.apply_environment()
            # The template's parameter, as a deploy would override it (the handlers read it at build).
            os.environ["MAX_HOLD_SECONDS"] = str(hold_seconds)
        except BaseException:
            self.moto.stop()
            raise
        assert self.stack.front is not None
        self.front = self.stack.front.base_url

    def close(self) -> None:
        try:
            self.stack.stop()
        finally:
            self.moto.stop()

    def secrets(self) -> dict[str, str]:
        every = self.stack.webhook_secrets()
        return {source: every[source] for source in SOURCES}

    # -- the live calls ------------------------------------------------------------------------------

    def register(self, keys: list[str], workers: int = 8) -> Calls:
        """A Voice SDK call rings each agent and is answered: the bridge registers the SDK legs from
        Twilio's signed status callbacks, through the front, as it would in production."""
        started = time.monotonic()
        callback = f"{self.front}/twilio/call-status"

        def ring_and_answer(key: str) -> tuple[str, str]:
            placed = self.emulator.place_inbound(key.removeprefix("identity:"), callback)
            self.emulator.answer(placed["child"])
            return key, str(placed["child"])

        with ThreadPoolExecutor(workers) as pool:
            calls = Calls(dict(pool.map(ring_and_answer, keys)))
        registered = {item["recipient"]: item for item in self.items("CallsTable")}
        missing = [key for key in keys if key not in registered]
        if missing:
            raise RuntimeError(f"{len(missing)} calls did not register, e.g. {missing[:3]}")
        calls.seconds = time.monotonic() - started
        return calls

    def settle(self, timeout: float) -> bool:
        """Until the stream and queue pollers have caught up; False if they had not within `timeout`."""
        deadline = time.monotonic() + timeout
        waits = [poller.wait_idle for poller in self.stack.pollers]
        waits += [poller.wait_idle for poller in self.stack.queue_pollers]
        return all(wait(max(0.1, deadline - time.monotonic())) for wait in waits)

    def drain(self, timeout: float, poll: float = 1.0) -> float:
        """Until nothing is parked and the pollers are idle, or `timeout`; returns the seconds it took."""
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            if self.settle(max(0.1, deadline - time.monotonic())) and not self.items("ParkedTable"):
                break
            time.sleep(poll)
        return time.monotonic() - started

    # -- what is read back ---------------------------------------------------------------------------

    def items(self, logical_id: str) -> list[dict[str, Any]]:
        """A table's items as plain values: the bench reads a whole local table, the bridge never does."""
        client = self.stack.client("dynamodb")
        return [
            {name: _plain(value) for name, value in item.items()}
            for page in client.get_paginator("scan").paginate(TableName=self.stack.table_name(logical_id))
            for item in page.get("Items", [])
        ]

    def messages(self) -> Iterator[dict[str, Any]]:
        """Twilio's messages, each with the moment it was created."""
        for message in self.emulator.messages():
            yield {**message, "created_at": self.emulator.created_at.get(message["sid"])}


def _plain(value: dict[str, Any]) -> Any:
    kind, content = next(iter(value.items()))
    if kind == "N":
        return float(content)
    if kind == "M":
        return {name: _plain(inner) for name, inner in content.items()}
    if kind == "L":
        return [_plain(inner) for inner in content]
    return content
