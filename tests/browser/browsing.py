"""Helpers of the browser tests: the serving stack, what a page did, and a developer's commands."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from local.template import ROOT

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
SHOTS = os.environ.get("CONSOLE_SCREENSHOTS")
LOOPBACK = {"127.0.0.1", "localhost", "[::1]", "::1"}
# Long enough for the demo on a busy machine, short enough to show a hang.
START_SECONDS = 180
VIEWPORT = {"width": 1400, "height": 1000}


@dataclass
class Served:
    """A serving `make run` stack: its endpoints (as .run/stack.json records them) and its output."""

    process: subprocess.Popen[str]
    endpoints: dict[str, Any] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)

    @property
    def console(self) -> str:
        return str(self.endpoints["console"])

    @property
    def front(self) -> str:
        return str(self.endpoints["front"])

    def said(self, text: str, timeout: float = 15.0) -> str:
        """The first line of the stack's output that holds `text`, waiting for it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [line for line in list(self.lines) if text in line]
            if found:
                return found[0]
            time.sleep(0.1)
        raise AssertionError(f"the stack never said {text!r}; it said:\n" + "".join(self.lines[-40:]))


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Seen:
    """What a page did: every URL it asked for, its navigations, dialogs and script errors."""

    requests: list[str] = field(default_factory=list)
    navigations: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    csp: dict[str, str | None] = field(default_factory=dict)


def stamp(chromium: str) -> None:
    """The line docs/console.md shows under the pictures: which command took them, when, where."""
    from bench import figures

    line = figures.stamp("make docs-screenshots").replace("Measured", "Taken", 1)
    line = line.replace(", on ", f" in Chromium {chromium} (headless), on ", 1)
    figures.write(Path(str(SHOTS)) / "console-screenshots.md", line, "")


def screenshot(target: Any, name: str) -> None:
    """Writes a picture for the docs when CONSOLE_SCREENSHOTS names a folder."""
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        target.screenshot(path=str(Path(SHOTS) / name))


def local_sign(served: Served, body: dict[str, Any] | bytes, tmp_path: Path, *options: str) -> str:
    """`python -m local.sign <file> --send` against this stack, as a developer runs it; its output."""
    file = tmp_path / f"body-{time.monotonic_ns()}.json"
    file.write_bytes(body if isinstance(body, bytes) else json.dumps(body).encode())
    sender = next((options[i + 1] for i, option in enumerate(options) if option == "--as"), None)
    url = served.front + ("/events" if sender in (None, "standard-webhooks") else f"/events/{sender}")
    done = subprocess.run(  # noqa: S603 - this interpreter, the project's own module
        [
            sys.executable,
            "-m",
            "local.sign",
            str(file),
            "--send",
            "--url",
            url,
            "--aws-endpoint",
            served.endpoints["aws"],
            *options,
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": f"{ROOT / 'layers/bridge'}:{ROOT}"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.stdout + done.stderr


def emulator(served: Served, method: str, path: str, **body: Any) -> Any:
    """The Twilio emulator's control API."""
    reply = requests.request(method, served.endpoints["twilio"] + path, json=body or None, timeout=30)
    reply.raise_for_status()
    return reply.json()
