"""`udm-bridge`: operate a deployed bridge, or the local stack.

    udm-bridge calls list                                  # every key with a live call
    udm-bridge calls get identity:alice
    udm-bridge calls set identity:alice CA0123... --ttl 3600
    udm-bridge calls rm identity:alice [--call-sid CA0123...]
    udm-bridge events failed [--since 24h]                 # the failure ledger
    udm-bridge events replay <event key> [--to identity:bob]
    udm-bridge events replay --all-failed [--since 24h] [--to identity:bob]

Tables (and the Twilio secret, for replays) come from the stack's outputs and parameters
(--stack, default udm-bridge), from explicit options, or are the local stack's (--local, while
`make run` is up).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import boto3

from bridge import runtime
from bridge.adapters.dynamodb.ledger import DynamoLedger
from bridge.adapters.dynamodb.registry import DynamoCallRegistry
from bridge.adapters.secrets import SecretStore
from bridge.calls import recipient_key
from bridge.config import DEFAULT_MAX_CALL_SECONDS, TwilioSettings
from bridge.dispatch import RetryingDispatcher
from bridge.errors import BridgeError
from bridge.model import CALL_SID, LedgerEntry
from bridge.retry import Deadline

LOCAL_ENDPOINT = "http://127.0.0.1:5005"
LOCAL_TWILIO = "http://127.0.0.1:4010"
LOCAL_TWILIO_SECRET = "udm-bridge/local/twilio"
LOCAL_TABLES = {"CallsTableName": "CallsTable", "LedgerTableName": "LedgerTable"}
# A replay waits this long for Twilio, at most, per event.
REPLAY_SECONDS = 30


@dataclass
class Target:
    """Where the bridge's state lives: a deployed stack, or the local stack."""

    args: argparse.Namespace

    @cached_property
    def session(self) -> Any:
        if self.args.local:
            region = self.args.region or "us-east-1"
            return boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name=region)
        return boto3.session.Session(profile_name=self.args.profile, region_name=self.args.region)

    @cached_property
    def endpoint(self) -> str | None:
        return self.args.endpoint_url or (LOCAL_ENDPOINT if self.args.local else None)

    def client(self, service: str) -> Any:
        return self.session.client(service, endpoint_url=self.endpoint)

    @cached_property
    def _stack(self) -> dict[str, Any]:
        stacks = self.session.client("cloudformation").describe_stacks(StackName=self.args.stack)["Stacks"]
        return dict(stacks[0])

    def output(self, name: str, override: str | None) -> str:
        if override:
            return override
        if self.args.local:
            return LOCAL_TABLES[name]
        for output in self._stack.get("Outputs", []):
            if output["OutputKey"] == name:
                return str(output["OutputValue"])
        raise SystemExit(f"stack {self.args.stack} has no {name} output")

    def parameter(self, name: str, override: str | None, local: str) -> str:
        if override:
            return override
        if self.args.local:
            return local
        for parameter in self._stack.get("Parameters", []):
            if parameter["ParameterKey"] == name:
                return str(parameter["ParameterValue"])
        raise SystemExit(f"stack {self.args.stack} has no {name} parameter")

    @cached_property
    def registry(self) -> DynamoCallRegistry:
        return runtime.registry(self.output("CallsTableName", self.args.table), client=self.client("dynamodb"))

    @cached_property
    def ledger(self) -> DynamoLedger:
        # Reads and marks entries only; the functions set each entry's retention when they record it.
        return runtime.ledger(self.output("LedgerTableName", self.args.ledger_table), client=self.client("dynamodb"))

    @cached_property
    def dispatcher(self) -> RetryingDispatcher:
        """The functions' own delivery chain: the same client, retry budget and backoff."""
        twilio = TwilioSettings(
            secret_id=self.parameter("TwilioSecretArn", self.args.twilio_secret_id, LOCAL_TWILIO_SECRET),
            api_base_url=self.args.twilio_api_base_url or (LOCAL_TWILIO if self.args.local else None),
        )
        secrets = SecretStore(max_age_seconds=0, client=self.client("secretsmanager"))
        return runtime.dispatcher(twilio, secrets, self.registry)


def _emit(value: Any) -> None:
    print(json.dumps(value, indent=2), file=OUT.stream)


class OUT:
    """Where results go: stdout, unless a caller (a test) hands main() its own stream."""

    stream: Any = sys.stdout


def _since(text: str) -> float:
    """`24h`, `90m`, `7d`, or an epoch time."""
    found = re.fullmatch(r"(\d+)([smhd])", text)
    if found:
        return time.time() - int(found[1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[found[2]]
    return float(text)


# -- calls -----------------------------------------------------------------------------------------


def calls(target: Target, args: argparse.Namespace) -> int:
    registry = target.registry
    if args.command == "list":
        now = time.time()
        rows = []
        for key, state in registry.every_key():
            live = state.live(now)
            if live:
                rows.append({"key": key, "call_sid": live[0][0], "calls": len(live)})
        _emit(sorted(rows, key=lambda row: row["key"]))
        return 0
    key = recipient_key(args.key)
    if args.command == "get":
        live = registry.live_calls(key)
        if not live:
            print(f"no live call for {key}", file=sys.stderr)
            return 1
        calls_ = [{"call_sid": sid, "started_at": entry.started, "expires_at": entry.expires_at} for sid, entry in live]
        _emit({"key": key, "call_sid": live[0][0], "calls": calls_})
        return 0
    if args.command == "set":
        if not CALL_SID.fullmatch(args.call_sid):
            raise SystemExit("CallSid must be CA followed by 32 hex digits")
        _emit(registry.register(key, args.call_sid, args.ttl).as_dict())
        return 0
    registry.remove(key, args.call_sid)
    print(f"removed {args.call_sid or 'every call'} of {key}", file=sys.stderr)
    return 0


# -- events ----------------------------------------------------------------------------------------


def events(target: Target, args: argparse.Namespace) -> int:
    if args.command == "failed":
        entries = target.ledger.failed_since(_since(args.since), include_replayed=args.include_replayed)
        _emit([entry.as_dict() for entry in entries])
        return 0
    if args.all_failed:
        entries = target.ledger.failed_since(_since(args.since))
    elif args.event_key:
        entry = target.ledger.get(args.event_key)
        if entry is None:
            raise SystemExit(f"no ledger entry for {args.event_key}")
        entries = [entry]
    else:
        raise SystemExit("name an event key, or --all-failed")
    failures = 0
    for entry in entries:
        result = replay(entry, target, args.to)
        failures += result["status"] != "delivered"
        _emit(result)
    return 1 if failures else 0


def replay(entry: LedgerEntry, target: Target, to: str | None) -> dict[str, Any]:
    """Redelivers with the original key as IdempotencyKey, so a replay can't double a delivery."""
    key = recipient_key(to) if to else entry.recipient
    call = target.registry.active_call(key)
    if call is None:
        return {"event_key": entry.event_key, "status": "no_active_call", "recipient": key}
    try:
        deadline = Deadline(lambda: REPLAY_SECONDS * 1000)
        sent = target.dispatcher.send(key, call.call_sid, entry.content, entry.event_key, deadline)
    except BridgeError as error:
        return {"event_key": entry.event_key, "status": error.code, "detail": error.detail}
    target.ledger.mark_replayed(entry.event_key, sent.message_sid)
    return {
        "event_key": entry.event_key,
        "status": "delivered",
        "call_sid": call.call_sid,
        "message_sid": sent.message_sid,
    }


# -- the command line ------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="udm-bridge", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    where = root.add_argument_group("where")
    where.add_argument("--region")
    where.add_argument("--profile")
    where.add_argument("--stack", default="udm-bridge", help="CloudFormation stack to read tables and secrets from")
    where.add_argument("--table", help="the calls table (skips the stack lookup)")
    where.add_argument("--ledger-table", help="the ledger table (skips the stack lookup)")
    where.add_argument("--twilio-secret-id", help="the Twilio secret, for replays (skips the stack lookup)")
    where.add_argument("--twilio-api-base-url", help=argparse.SUPPRESS)
    where.add_argument("--local", action="store_true", help=f"the local stack (moto at {LOCAL_ENDPOINT})")
    where.add_argument("--endpoint-url", help="an AWS endpoint other than AWS's")
    groups = root.add_subparsers(dest="group", required=True)

    call_group = groups.add_parser("calls", help="the call registry").add_subparsers(dest="command", required=True)
    call_group.add_parser("list", help="every key with a live call")
    call_group.add_parser("get", help="the live calls of a key").add_argument("key")
    setter = call_group.add_parser("set", help="register a call for a key (the newest call wins)")
    setter.add_argument("key")
    setter.add_argument("call_sid", metavar="CallSid")
    setter.add_argument("--ttl", type=int, default=DEFAULT_MAX_CALL_SECONDS, help="seconds before it counts as gone")
    remover = call_group.add_parser("rm", help="end every call of a key, or only --call-sid")
    remover.add_argument("key")
    remover.add_argument("--call-sid")

    event_group = groups.add_parser("events", help="the failure ledger").add_subparsers(dest="command", required=True)
    failed = event_group.add_parser("failed", help="undeliverable events")
    failed.add_argument("--since", default="7d", help="e.g. 2h, 30m, 7d, or epoch seconds (default 7d)")
    failed.add_argument("--include-replayed", action="store_true")
    replayer = event_group.add_parser("replay", help="redeliver undeliverable events with their original key")
    replayer.add_argument("event_key", nargs="?", help="the ledger's event_key, as `events failed` lists it")
    replayer.add_argument("--all-failed", action="store_true", help="every unreplayed event since --since")
    replayer.add_argument("--since", default="7d")
    replayer.add_argument("--to", help="deliver to this key's call instead of the original recipient's")
    return root


def main(argv: list[str] | None = None, out: Any = None) -> int:
    args = parser().parse_args(argv)
    target = Target(args)
    OUT.stream = out or sys.stdout
    try:
        return calls(target, args) if args.group == "calls" else events(target, args)
    except BridgeError as error:
        print(f"{error.title}: {error.detail}", file=sys.stderr)
        return 1
    finally:
        OUT.stream = sys.stdout


if __name__ == "__main__":
    sys.exit(main())
