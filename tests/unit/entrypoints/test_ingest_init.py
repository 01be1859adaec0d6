"""The ingest function's Init, in a fresh interpreter as Lambda runs it: on Lambda the collector stays
off while Init imports and through the first event, and is on again, with what both built frozen,
once that event is answered; outside Lambda (the local stack's many containers in one process) the
collector is left alone."""

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
after_init = {"collections": len(collections), "enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}

class Context:
    function_name, memory_limit_in_mb, aws_request_id = "IngestFunction", 768, "r-1"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:IngestFunction"
    def get_remaining_time_in_millis(self):
        return 10_000

# A route the API doesn't have: answered without any AWS call.
event = {"version": "2.0", "routeKey": "$default", "rawPath": "/nowhere", "rawQueryString": "", "headers": {},
         "requestContext": {"http": {"method": "GET", "path": "/nowhere"}, "stage": "$default"},
         "isBase64Encoded": False}
status = module.lambda_handler(event, Context())["statusCode"]
print(json.dumps({**after_init, "status": status, "enabled_after_first": gc.isenabled(),
                  "frozen_after_first": gc.get_freeze_count()}))
"""


def _init(**env: str) -> dict[str, object]:
    environment = {name: value for name, value in os.environ.items() if name != "LAMBDA_TASK_ROOT"} | env
    done = subprocess.run(  # noqa: S603 - this interpreter, our own probe
        [sys.executable, "-c", PROBE, str(APP)], capture_output=True, text=True, env=environment, cwd=ROOT, check=True
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_on_lambda_init_and_the_first_event_run_without_collections_and_freeze_what_they_built() -> None:
    # When the handler module is imported in a process of its own, as Lambda's Init does, and answers one event
    result = _init(LAMBDA_TASK_ROOT=str(APP.parent))

    # Then no collection ran during Init, and the collector stayed off, what Init built frozen
    assert result["collections"] == 0
    assert result["enabled"] is False
    assert isinstance(result["frozen"], int)
    assert result["frozen"] > 10_000
    # And once the first event is answered, the collector is on, with what that event built frozen too
    assert result["status"] == 404
    assert result["enabled_after_first"] is True
    assert isinstance(result["frozen_after_first"], int)
    assert result["frozen_after_first"] > result["frozen"]


def test_outside_lambda_init_leaves_the_collector_as_it_was() -> None:
    # When the module is imported where many containers share one process
    result = _init()

    # Then the collector ran as it always does, and nothing was frozen, before the first event or after
    assert isinstance(result["collections"], int)
    assert result["collections"] > 0
    assert result["enabled"] is True
    assert result["enabled_after_first"] is True
    assert result["frozen"] == result["frozen_after_first"] == 0
