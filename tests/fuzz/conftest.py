"""The fuzz pass's totals line, printed in pytest's summary (past output capture)."""

from __future__ import annotations

import json
from typing import Any

import pytest


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    totals = getattr(config, "fuzz_totals", None)
    if totals:
        terminalreporter.write_line(f"FUZZ: {json.dumps(totals)}")
