"""`udm-bridge`: look at and fix the call registry of a deployed bridge, or of the local stack.

    udm-bridge calls list                                  # every key with a live call
    udm-bridge calls get identity:alice
    udm-bridge calls set identity:alice CA0123... --ttl 3600
    udm-bridge calls rm identity:alice [--call-sid CA0123...]

The table comes from --table, or from the stack's CallsTableName output (--stack, default
udm-bridge), or is the local stack's (--local, while `make run` is up).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import boto3

from bridge.calls import CALL_SID, recipient_key
from bridge.config import DEFAULT_MAX_CALL_SECONDS
from bridge.errors import BridgeError
from bridge.registry import DynamoCallRegistry, decode_state

LOCAL_ENDPOINT = "http://127.0.0.1:5005"


def _session(args: argparse.Namespace) -> Any:
    if args.local:
        return boto3.session.Session(
            aws_access_key_id="local", aws_secret_access_key="local", region_name=args.region or "us-east-1"
        )
    return boto3.session.Session(profile_name=args.profile, region_name=args.region)


def _table(args: argparse.Namespace, session: Any) -> str:
    if args.table:
        return str(args.table)
    if args.local:
        return "CallsTable"
    outputs = session.client("cloudformation").describe_stacks(StackName=args.stack)["Stacks"][0].get("Outputs", [])
    for output in outputs:
        if output["OutputKey"] == "CallsTableName":
            return str(output["OutputValue"])
    raise SystemExit(f"stack {args.stack} has no CallsTableName output; pass --table")


def _emit(value: Any) -> None:
    print(json.dumps(value, indent=2))


def _describe(key: str, registry: DynamoCallRegistry) -> dict[str, Any] | None:
    live = registry.live_calls(key)
    if not live:
        return None
    return {
        "key": key,
        "call_sid": live[0][0],
        "calls": [
            {"call_sid": sid, "started_at": entry.started, "expires_at": entry.expires_at} for sid, entry in live
        ],
    }


def run(args: argparse.Namespace) -> int:
    session = _session(args)
    endpoint = args.endpoint_url or (LOCAL_ENDPOINT if args.local else None)
    client = session.client("dynamodb", endpoint_url=endpoint)
    table = _table(args, session)
    registry = DynamoCallRegistry(table, client)

    if args.command == "list":
        # An operator's listing: the one Scan in the project, never on an event's path.
        now = time.time()
        rows = []
        for page in client.get_paginator("scan").paginate(TableName=table):
            for item in page.get("Items", []):
                state = decode_state(item)
                active = state.active(now)
                if active:
                    rows.append({"key": item["recipient"]["S"], "call_sid": active[0], "calls": len(state.live(now))})
        _emit(sorted(rows, key=lambda row: row["key"]))
        return 0
    key = recipient_key(args.key)
    if args.command == "get":
        found = _describe(key, registry)
        if found is None:
            print(f"no live call for {key}", file=sys.stderr)
            return 1
        _emit(found)
        return 0
    if args.command == "set":
        if not CALL_SID.match(args.call_sid):
            raise SystemExit("CallSid must be CA followed by 32 hex digits")
        _emit(registry.register(key, args.call_sid, args.ttl).as_dict())
        return 0
    if args.command == "rm":
        registry.remove(key, args.call_sid)
        print(f"removed {args.call_sid or 'every call'} of {key}", file=sys.stderr)
        return 0
    raise SystemExit(f"unknown command {args.command}")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="udm-bridge", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    where = root.add_argument_group("where")
    where.add_argument("--region")
    where.add_argument("--profile")
    where.add_argument("--stack", default="udm-bridge", help="CloudFormation stack to read CallsTableName from")
    where.add_argument("--table", help="the calls table name (skips the stack lookup)")
    where.add_argument("--local", action="store_true", help=f"the local stack (moto at {LOCAL_ENDPOINT})")
    where.add_argument("--endpoint-url", help="a DynamoDB endpoint other than AWS's")
    groups = root.add_subparsers(dest="group", required=True)
    calls = groups.add_parser("calls", help="the call registry").add_subparsers(dest="command", required=True)
    calls.add_parser("list", help="every key with a live call")
    calls.add_parser("get", help="the live calls of a key").add_argument("key")
    setter = calls.add_parser("set", help="register a call for a key (the newest call wins)")
    setter.add_argument("key")
    setter.add_argument("call_sid", metavar="CallSid")
    setter.add_argument("--ttl", type=int, default=DEFAULT_MAX_CALL_SECONDS, help="seconds before it counts as gone")
    remover = calls.add_parser("rm", help="end every call of a key, or only --call-sid")
    remover.add_argument("key")
    remover.add_argument("--call-sid")
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return run(args)
    except BridgeError as error:
        print(f"{error.title}: {error.detail}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
