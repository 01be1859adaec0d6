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
    # Every unit test module, in the folders of the layer's own, as pytest imports them (packages
    # under tests/, which is on the path)
    modules = sorted(
        ".".join(path.relative_to(ROOT / "tests").with_suffix("").parts) for path in UNIT.rglob("test_*.py")
    )
    assert "unit.sources.test_signatures" in modules
    assert "unit.usecases.test_ingest" in modules
    path = os.pathsep.join(str(ROOT / part) for part in ("layers/bridge", ".", "tests"))
    env = {**os.environ, "PYTHONPATH": path}
    probe = subprocess.run(  # noqa: S603 - this interpreter, this repository's modules
        [sys.executable, "-c", PROBE, *modules, "unit.fakes", "helpers", "conftest"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    assert json.loads(probe.stdout.splitlines()[-1]) == []
