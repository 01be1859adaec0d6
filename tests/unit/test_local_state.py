"""The state file that tells every documented command where `make run` listens."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from local import state


def test_a_running_stack_is_found_with_its_ports(tmp_path: Path) -> None:
    path = tmp_path / "stack.json"
    written = state.Endpoints(
        front="http://127.0.0.1:3001",
        aws="http://127.0.0.1:5006",
        twilio="x",
        pid=os.getpid(),
        console="http://127.0.0.1:4031/",
    )
    state.write(written, path)
    assert state.running(path) == written
    assert state.endpoints(path).front == "http://127.0.0.1:3001"
    assert state.endpoints(path).console == "http://127.0.0.1:4031/"


def test_a_file_left_by_a_stack_that_died_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "stack.json"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True)
    state.write(state.Endpoints(front="http://127.0.0.1:3001", pid=int(dead.stdout)), path)
    assert state.running(path) is None
    assert state.endpoints(path) == state.Endpoints()  # the defaults


def test_no_file_or_a_broken_one_means_the_defaults(tmp_path: Path) -> None:
    assert state.endpoints(tmp_path / "absent.json").front == state.DEFAULT_FRONT
    (tmp_path / "broken.json").write_text("{not json")
    assert state.running(tmp_path / "broken.json") is None


def test_a_stack_removes_only_its_own_file(tmp_path: Path) -> None:
    path = tmp_path / "stack.json"
    state.write(state.Endpoints(pid=os.getpid()), path)
    state.remove(os.getpid() + 1, path)  # another stack's exit leaves it
    assert path.exists()
    state.remove(os.getpid(), path)
    assert not path.exists()
