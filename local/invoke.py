"""`make invoke FUNCTION=IngestFunction EVENT=events/<file>.json`: what `sam local invoke` does,
without Docker. The template's handler and environment, the event file, the response and logs.

It uses the stack `make run` serves when one is up (found through .run/stack.json, whatever ports
it took; never a stack of another checkout that happens to hold the default ports); otherwise it
starts a throwaway one with a live demo call for identity:alice. Signed events are re-signed first,
as their sender would sign them now: webhooks with the stack's webhook secret, status callbacks
with its Twilio auth token.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import requests

from bridge import bootstrap
from bridge.settings import RegistrySettings
from local import state, template
from local.demo import DEMO_KEY
from local.lambda_runtime import invoke, response_body
from local.sign import local_auth_token, local_secrets, resign_event, resign_twilio_event
from local.stack import LocalStack, aws_environment
from local.template import ROOT

ENV_FILE = ROOT / "events" / "env.json"


def running_stack(twilio: str) -> bool:
    try:
        return requests.get(f"{twilio}/_emulator/health", timeout=0.5).ok
    except requests.RequestException:
        return False


def function_environment(function: template.Function, overrides: dict[str, Any]) -> dict[str, str]:
    """As `sam local invoke --env-vars`: template variables, overridden by env.json's Parameters
    and then by its section for this function."""
    env = {name: str(value) for name, value in function.environment.items() if not isinstance(value, dict)}
    env.update({k: str(v) for k, v in overrides.get("Parameters", {}).items()})
    env.update({k: str(v) for k, v in overrides.get(function.logical_id, {}).items()})
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("function", help="logical ID in template.yaml, e.g. IngestFunction")
    parser.add_argument("event", type=Path, help="API Gateway event JSON file")
    parser.add_argument("--aws-endpoint", help="moto's URL (default: the running stack's, from .run/stack.json)")
    parser.add_argument("--twilio", help="the emulator's URL (default: the running stack's)")
    parser.add_argument("--no-resign", action="store_true", help="send the event's signature as it is")
    args = parser.parse_args(argv)

    functions = template.load().functions()
    if args.function not in functions:
        parser.error(f"unknown function {args.function}; the template has {', '.join(functions)}")
    function = functions[args.function]
    event = json.loads(args.event.read_text())

    stack: LocalStack | None = None
    found = state.running()
    if args.aws_endpoint and args.twilio:
        found = state.Endpoints(aws=args.aws_endpoint, twilio=args.twilio)
    if found is not None and running_stack(found.twilio):
        print(f"using the running local stack ({found.aws}, {found.twilio})", file=sys.stderr)
        aws, twilio = found.aws, found.twilio
        secrets, auth_token = local_secrets(aws), local_auth_token(aws)
    else:
        print("no local stack is running; starting a throwaway one", file=sys.stderr)
        stack = LocalStack().start()
        aws, twilio = stack.aws_endpoint, stack.emulator.base_url
        secrets, auth_token = stack.webhook_secrets(), stack.credentials.account.auth_token
        call = stack.emulator.create_call(stack.credentials.account.account_sid)
        calls_table = RegistrySettings(stack.table_name("CallsTable"))
        registry = bootstrap.registry(calls_table, client=stack.client("dynamodb"))
        registry.register(DEMO_KEY, call["sid"], ttl_seconds=3600)

    overrides = json.loads(ENV_FILE.read_text()) if ENV_FILE.exists() else {}
    os.environ.update(function_environment(function, overrides))
    os.environ.update(aws_environment(aws))
    os.environ["TWILIO_API_BASE_URL"] = twilio
    if not args.no_resign:
        event = resign_event(event, secrets)
    if "x-twilio-signature" in event.get("headers", {}) and not args.no_resign:
        event = resign_twilio_event(event, auth_token, os.environ.get("PUBLIC_BASE_URL") or None)

    print(
        f"invoking {function.logical_id} ({function.handler} in {function.code_uri.relative_to(ROOT)})", file=sys.stderr
    )
    response = invoke(function, event)
    print(json.dumps({**response, "body": response_body(response).decode("utf-8", "replace")}, indent=2))
    if stack is not None:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
