"""Unit tests need no AWS stand-in: importing every unit test module (and the test helpers and the
shared conftest) in a fresh interpreter loads neither moto nor the local stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UNIT = Path(__file__).resolve().parent

PROBE = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
stand_ins = [name for name in sys.modules if name.split(".")[0] in ("moto", "werkzeug") or name == "local.stack"]
print(json.dumps(sorted(stand_ins)))
"""


def test_unit_test_modules_import_no_moto() -> None:
    modules = sorted(path.stem for path in UNIT.glob("test_*.py"))
    assert "test_signatures" in modules
    assert "test_ingest_parking" in modules
    # The unit test modules, as pytest imports them (rootdir-relative pythonpath, rootdir-less tests)
    path = os.pathsep.join(str(ROOT / part) for part in ("tests/unit", "layers/bridge", ".", "tests"))
    env = {**os.environ, "PYTHONPATH": path}
    probe = subprocess.run(  # noqa: S603 - this interpreter, this repository's modules
        [sys.executable, "-c", PROBE, *modules, "helpers", "conftest"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    assert json.loads(probe.stdout.splitlines()[-1]) == []
