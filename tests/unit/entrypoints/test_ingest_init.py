"""The ingest function's Init, in a fresh interpreter as Lambda runs it: on Lambda the collector stays
off while Init imports, and is on again, with what Init built frozen, once it is done; outside
Lambda (the local stack's many containers in one process) the collector is left alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
APP = ROOT / "functions" / "ingest" / "app.py"

PROBE = """
import gc, json, sys, types
module = types.ModuleType("ingest_app")
with open(sys.argv[1], encoding="utf-8") as source:
    code = compile(source.read(), sys.argv[1], "exec")
collections = []
gc.callbacks.append(lambda phase, info: collections.append(info["generation"]) if phase == "start" else None)
gc.collect()  # counts from zero: only the module's own body runs from here
collections.clear()
exec(code, module.__dict__)
print(json.dumps({"collections": len(collections), "enabled": gc.isenabled(), "frozen": gc.get_freeze_count(),
                  "handler": callable(module.lambda_handler)}))
"""


def _init(**env: str) -> dict[str, object]:
    environment = {name: value for name, value in os.environ.items() if name != "LAMBDA_TASK_ROOT"} | env
    done = subprocess.run(  # noqa: S603 - this interpreter, our own probe
        [sys.executable, "-c", PROBE, str(APP)], capture_output=True, text=True, env=environment, cwd=ROOT, check=True
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_on_lambda_init_runs_without_collections_and_freezes_what_it_built() -> None:
    # When the handler module is imported in a process of its own, as Lambda's Init does
    result = _init(LAMBDA_TASK_ROOT=str(APP.parent))

    # Then no collection ran during it, and afterwards the collector is on, what Init built frozen
    assert result == {"collections": 0, "enabled": True, "frozen": result["frozen"], "handler": True}
    assert isinstance(result["frozen"], int)
    assert result["frozen"] > 10_000


def test_outside_lambda_init_leaves_the_collector_as_it_was() -> None:
    # When the module is imported where many containers share one process
    result = _init()

    # Then the collector ran as it always does, and nothing was frozen
    assert isinstance(result["collections"], int)
    assert result["collections"] > 0
    assert result["enabled"] is True
    assert result["frozen"] == 0
