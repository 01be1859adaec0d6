"""`make run` on a machine where the default ports are taken: it picks free ones, says so, and its
output is its steps (no log lines, no warnings), the one keyed by the caller's number among them."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from local.stack import available
from local.template import ROOT

pytestmark = pytest.mark.integration


@contextlib.contextmanager
def taken(port: int) -> Iterator[None]:
    """Holds the port (if nobody else does already). SO_REUSEADDR: a port still in TIME_WAIT from an
    earlier stack would otherwise stay unheld here, yet count as free to the stack, which binds so."""
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        with contextlib.suppress(OSError):
            holder.bind(("127.0.0.1", port))
            holder.listen()
        yield


def test_available_gives_a_free_port_or_zero() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert available("127.0.0.1", port) == 0
    assert available("127.0.0.1", port) == port


def test_demo_reaches_demo_ok_when_the_front_port_is_taken() -> None:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'layers/bridge'}:{ROOT}"}
    with taken(3000):
        done = subprocess.run(
            [sys.executable, "-m", "local.demo", "--no-serve"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "port 3000 is taken: the HTTP front takes a free one" in output
    assert "DEMO OK" in output
    assert "HTTP front at http://127.0.0.1:3000" not in output
    # The console's page, on loopback, before the steps it shows
    assert re.search(r"^console: http://127\.0\.0\.1:\d+/ ", output, re.MULTILINE), output
    assert output.index("console: ") < output.index("[1] ")
    # The step keyed by the caller's number reached the agent's call, and ended with it; the number shows masked
    keyed = re.search(
        r"an event for (phone:\+1555•••\d{4}) to POST /events\n.*\n    -> 200 \{\"status\": \"delivered\"", output
    )
    assert keyed, output
    assert re.search(rf"a new event for {re.escape(keyed[1])} -> \d+ no_active_call", output), output
    assert not re.search(r"\+1555\d{7}", output)
    # Only steps: no JSON log or metric lines, no warnings
    assert not [line for line in output.splitlines() if line.lstrip().startswith("{")], output
    assert "Warning" not in output
