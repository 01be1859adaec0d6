"""Browser tests: Debian's Chromium, headless, driven by Playwright for Python, against the console
of a stack started the way `make run` starts it (`python -m local.demo`, serving).

Chromium is the system's (`/usr/bin/chromium`, or `$CHROMIUM`); nothing is downloaded (never
`playwright install`). It runs with a proxy on a closed port, so a request for anything but loopback
(which Chromium never proxies) fails instead of leaving the machine. Without Chromium the tests fail
and say how to install it, since `.ci/run` installs it; `SKIP_BROWSER_TESTS=1` skips them instead.
With `CONSOLE_SCREENSHOTS=<folder>` (`make docs-screenshots`) they write the docs' pictures there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from browsing import CHROMIUM, LOOPBACK, SHOTS, START_SECONDS, VIEWPORT, Seen, Served, closed_port, stamp

from local.template import ROOT


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    state = tmp_path_factory.mktemp("run") / "stack.json"
    ports = [
        arg
        for name in ("port", "aws-port", "twilio-port", "forward-port", "console-port")
        for arg in (f"--{name}", "0")
    ]
    process = subprocess.Popen(  # noqa: S603 - this interpreter, the project's own module
        [sys.executable, "-m", "local.demo", *ports, "--state-file", str(state)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": f"{ROOT / 'layers/bridge'}:{ROOT}"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    stack = Served(process)

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            stack.lines.append(line)

    threading.Thread(target=read, name="make-run-output", daemon=True).start()
    deadline = time.monotonic() + START_SECONDS
    while not state.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail("make run's stack did not start serving:\n" + "".join(stack.lines))
        time.sleep(0.2)
    stack.endpoints = json.loads(state.read_text())
    try:
        yield stack
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if os.environ.get("SKIP_BROWSER_TESTS") == "1":
        pytest.skip("SKIP_BROWSER_TESTS=1")
    if not CHROMIUM.exists():
        pytest.fail(
            f"no Chromium at {CHROMIUM}: `apt-get install chromium` (as root; .ci/run does), "
            "set CHROMIUM=<path>, or SKIP_BROWSER_TESTS=1 to skip the browser tests"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--no-sandbox",
                f"--proxy-server=127.0.0.1:{closed_port()}",
            ],
        )
        yield launched
        if SHOTS:
            stamp(launched.version)
        launched.close()


@pytest.fixture
def seen() -> Seen:
    return Seen()


@pytest.fixture
def page(browser: Any, served: Served, seen: Seen) -> Iterator[Any]:
    """The console, open and live. Afterwards: nothing it asked for left loopback, no dialog opened,
    no script failed."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport=VIEWPORT, color_scheme="light", locale="en-GB", timezone_id="UTC")
    opened = context.new_page()
    opened.on("request", lambda request: seen.requests.append(request.url))
    opened.on(
        "response", lambda response: seen.csp.update({response.url: response.headers.get("content-security-policy")})
    )
    opened.on("dialog", lambda dialog: (seen.dialogs.append(dialog.message), dialog.dismiss()))
    opened.on("pageerror", lambda error: seen.errors.append(str(error)))
    opened.on("framenavigated", lambda frame: frame == opened.main_frame and seen.navigations.append(frame.url))
    opened.goto(served.console)
    expect(opened.locator("#live")).to_have_attribute("data-state", "live")
    expect(opened.locator("body")).to_have_attribute("data-calls", "shown")
    yield opened
    context.close()
    away = [url for url in seen.requests if urlsplit(url).hostname not in LOOPBACK]
    assert not away, f"the console asked for something off this machine: {away}"
    assert not seen.dialogs, f"a dialog opened: {seen.dialogs}"
    assert not seen.errors, f"a script failed: {seen.errors}"
