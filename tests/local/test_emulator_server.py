"""The emulator as a server and a process: a kept-alive connection, Twilio's 404 for paths it does not
implement, a stopped emulator, and `python -m local.twilio_emulator` run standalone."""

import http.client
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests
from emulator_client import ControlClient
from emulator_helpers import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    _udm_url,
)

from local.twilio_emulator import Account, TwilioEmulator

REPO_ROOT = Path(__file__).resolve().parents[2]


# -- HTTP server --------------------------------------------------------------------------------------


def test_connection_is_kept_alive_across_requests(emulator: TwilioEmulator) -> None:
    # Given one HTTP/1.1 connection to the emulator
    call = emulator.create_call(ACCOUNT_SID)
    host, port = emulator.base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    path = _udm_url(emulator, call["sid"]).removeprefix(emulator.base_url)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Authorization": requests.auth._basic_auth_str(ACCOUNT_SID, AUTH_TOKEN),
    }
    try:
        statuses = []
        # When two requests are sent back to back on it
        for _ in range(2):
            conn.request("POST", path, body="Content=%7B%7D", headers=headers)
            response = conn.getresponse()
            response.read()
            statuses.append(response.status)
            # Then the server does not ask to close it
            assert not response.will_close
    finally:
        conn.close()

    # And both requests succeed
    assert statuses == [201, 201]


def test_other_twilio_paths_are_404_20404(emulator: TwilioEmulator) -> None:
    # Given a Twilio API path the emulator does not implement
    url = f"{emulator.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"

    # When it is requested
    response = requests.post(url, data={"Body": "hi"}, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=10)

    # Then Twilio's not-found error body comes back as JSON
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["code"] == 20404
    assert response.json()["more_info"] == "https://www.twilio.com/docs/errors/20404"


# -- lifecycle ----------------------------------------------------------------------------------------


def test_stopped_emulator_refuses_connections() -> None:
    # Given an emulator that was started and then stopped
    emu = TwilioEmulator([Account(ACCOUNT_SID, AUTH_TOKEN)]).start()
    base_url = emu.base_url
    emu.stop()

    # When its control API is called
    # Then the connection is refused
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{base_url}/_emulator/health", timeout=10)


def test_module_runs_standalone_until_interrupted() -> None:
    # Given the emulator started as `python -m local.twilio_emulator` on a free port
    # Credentials travel in the environment (the CLI's documented fallback), keeping argv literal.
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "AWS_EC2_METADATA_DISABLED": "true",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
    }
    lines: queue.Queue[str] = queue.Queue()
    with subprocess.Popen(
        [sys.executable, "-m", "local.twilio_emulator", "--port", "0"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stderr is not None
        stderr = proc.stderr

        def pump_stderr() -> None:
            for line in stderr:
                lines.put(line)

        # A reader thread lets the test wait for the "listening on" line with a timeout.
        pump = threading.Thread(target=pump_stderr, daemon=True)
        pump.start()
        try:
            base_url = None
            while base_url is None:
                found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", lines.get(timeout=20))
                base_url = found.group(1) if found else None

            # When it is health-checked and then interrupted with Ctrl-C
            healthy = ControlClient(base_url).call("GET", "/health") == (200, {"ok": True})
            proc.send_signal(signal.SIGINT)
            returncode = proc.wait(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            pump.join(timeout=20)

    # Then it served requests and exited cleanly
    assert healthy
    assert returncode == 0
