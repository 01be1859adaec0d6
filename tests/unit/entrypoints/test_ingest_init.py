"""The ingest function's cold start, in a fresh interpreter as Lambda runs it: on Lambda the collector
stays off through Init and the first event, and is on again, with what they built frozen, once that
event is answered; outside Lambda (the local stack's many containers in one process) it is left alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

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

def state():
    return {"collections": len(collections), "enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}

exec(code, module.__dict__)
init = state()

class Context:
    function_name, function_version, memory_limit_in_mb = "IngestFunction", "$LATEST", 768
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:IngestFunction"
    aws_request_id, log_group_name, log_stream_name = "first", "/aws/lambda/IngestFunction", "probe"
    def get_remaining_time_in_millis(self):
        return 30_000

# A route no one serves: answered by the resolver alone, without building the use case.
http = {"method": "GET", "path": "/nowhere", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "probe"}
event = {"version": "2.0", "routeKey": "$default", "rawPath": "/nowhere", "rawQueryString": "", "headers": {},
         "requestContext": {"http": http, "routeKey": "$default", "stage": "$default", "requestId": "r",
                            "timeEpoch": 0, "accountId": "123456789012", "apiId": "api", "domainName": "localhost",
                            "domainPrefix": "localhost", "time": "05/Dec/2026:00:00:00 +0000"},
         "isBase64Encoded": False}
status = module.lambda_handler(event, Context())["statusCode"]
print(json.dumps({"init": init, "first": state(), "status": status}))
"""


def _cold_start(**env: str) -> dict[str, Any]:
    environment = {name: value for name, value in os.environ.items() if name != "LAMBDA_TASK_ROOT"} | env
    done = subprocess.run(  # noqa: S603 - this interpreter, our own probe
        [sys.executable, "-c", PROBE, str(APP)], capture_output=True, text=True, env=environment, cwd=ROOT, check=True
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_on_lambda_no_collection_runs_until_the_first_event_is_answered() -> None:
    # When the handler module is imported in a process of its own, as Lambda's Init does, then invoked
    result = _cold_start(LAMBDA_TASK_ROOT=str(APP.parent))

    # Then no collection ran during Init, which left the collector off
    assert result["init"] == {"collections": 0, "enabled": False, "frozen": 0}
    # And once the first event was answered it is on again, with what the container built frozen
    assert result["status"] == 404
    assert result["first"]["collections"] == 0
    assert result["first"]["enabled"] is True
    assert result["first"]["frozen"] > 10_000


def test_outside_lambda_the_collector_is_left_as_it_was() -> None:
    # When the module is imported and invoked where many containers share one process
    result = _cold_start()

    # Then the collector ran as it always does, and nothing was frozen
    assert result["init"]["collections"] > 0
    assert result["init"]["enabled"] is True
    assert result["first"]["enabled"] is True
    assert result["first"]["frozen"] == 0
