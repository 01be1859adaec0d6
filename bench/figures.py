"""The figures in docs/figures/ are written by the commands that measure them, never by hand, and each
file's first line says when, at which commit and on what machine (`stamp`).

`make bench` writes bench.md (bench/__main__.py). `make test-faults` sets FAULTS_REPORT, and the fault
suites add their totals lines to the file it names (`record_fault_totals`); `make test` does not set
it, so a CI run leaves the clone clean.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "docs" / "figures"
BENCH_FIGURES = FIGURES / "bench.md"
FAULTS_REPORT = "FAULTS_REPORT"


def stamp(command: str, when: datetime | None = None) -> str:
    """The line a figures file starts with: UTC time, command, commit, machine."""
    moment = (when or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M:%S UTC")
    try:
        head, changed = git_head()
        commit = f"commit {head}" + (" + uncommitted changes" if changed else "")
    except LookupError as error:
        commit = str(error)
    return (
        f"Measured {moment} by `{command}` at {commit}, on {cpu_model()} ({os.cpu_count()} cores), "
        f"Python {platform.python_version()}, {operating_system()}."
    )


def write(path: Path, stamp_line: str, body: str) -> Path:
    """Replaces the whole file: the stamp line, a blank line, the Markdown body."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{stamp_line}\n\n{body}")
    return path


_fault_runs: dict[Path, tuple[str, list[str]]] = {}


def record_fault_totals(line: str) -> None:
    """Adds a fault suite's totals line to the file $FAULTS_REPORT names, if it names one. The first
    line in a process starts the file afresh, so it holds one run's lines under that run's stamp."""
    target = os.environ.get(FAULTS_REPORT)
    if not target:
        return
    path = Path(target).resolve()
    stamp_line, lines = _fault_runs.setdefault(path, (stamp("make test-faults"), []))
    lines.append(line)
    write(path, stamp_line, "```text\n" + "\n".join(lines) + "\n```\n")


# -- the machine and the commit ------------------------------------------------------------------------


def cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown CPU"


def operating_system() -> str:
    """The kernel, and the distribution when /etc/os-release names one."""
    kernel = f"{platform.system()} {platform.release()}"
    try:
        distribution = platform.freedesktop_os_release().get("PRETTY_NAME", "")
    except OSError:
        distribution = ""
    return f"{kernel} ({distribution})" if distribution else kernel


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "load_start": " ".join(f"{n:.2f}" for n in os.getloadavg()),
    }


def git_head() -> tuple[str, int]:
    """The short commit and how many paths differ from it, tracked or not; LookupError says why there is
    none. docs/figures/ does not count: it is what a run writes, not what it measured."""
    git = shutil.which("git")
    if git is None:
        raise LookupError("git not found")

    def output(*args: str) -> str:
        completed = subprocess.run(  # noqa: S603 - git, fixed arguments
            [git, *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=10
        )
        return completed.stdout.strip()

    try:
        head = output("rev-parse", "--short", "HEAD")
        changed = output("status", "--porcelain", "--", ".", f":!{FIGURES.relative_to(ROOT)}")
    except (OSError, subprocess.SubprocessError):
        raise LookupError("not a git checkout") from None
    return head, len(changed.splitlines())


def git_state() -> str:
    """The report's `code:` line."""
    try:
        head, changed = git_head()
    except LookupError as error:
        return str(error)
    return f"commit {head}" + (f" with {changed} changed/untracked paths" if changed else "")
