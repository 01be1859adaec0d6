"""`udm-bridge`: operate a deployed bridge, or the local stack.

    udm-bridge calls list                                  # every key with a live call, phone numbers masked
    udm-bridge calls get identity:alice
    udm-bridge calls set identity:alice CA0123... --ttl 3600
    udm-bridge calls rm identity:alice [--call-sid CA0123...]
    udm-bridge events failed [--since 24h]                 # the failure ledger
    udm-bridge events replay <event key> [--to identity:bob] [--force]
    udm-bridge events replay --all-failed [--since 24h] [--to identity:bob] [--force]
    udm-bridge streams failed                              # stream batches FlushFunction gave up on
    udm-bridge streams redrive                             # replay them from the stream (within 24 h)
    udm-bridge smoke                                       # post-deploy: routing, secrets, signatures, IAM

Tables, the queue, the URLs (and the secrets, for replays and smoke) come from the stack's outputs
and parameters (--stack, default udm-bridge), from explicit options, or are the local stack's
(--local, while `make run` is up: .run/stack.json says where it listens).

`events` covers messages from the call too: one the forwarder could not deliver is in the ledger as
forward_failed (event key call:<message SID>), and its replay forwards it again, same webhook-id.
A stale event (too old for its recipient's call) is replayed only with --to or --force; a ledger
item that is not an entry is skipped and named on stderr (exit status 1).
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

from bridge import bootstrap
from bridge.adapters.dynamodb.ledger import DynamoLedger
from bridge.adapters.dynamodb.registry import DynamoCallRegistry
from bridge.adapters.secrets import SecretStore
from bridge.domain.calls import CALL_SID
from bridge.domain.errors import BridgeError
from bridge.domain.events import delivery_key
from bridge.domain.keys import recipient_key
from bridge.domain.outcomes import Outcome
from bridge.domain.parking import LedgerEntry, MalformedEntry
from bridge.domain.phones import mask_key
from bridge.domain.retry import Deadline
from bridge.entrypoints.streams import FlushStreamRouter
from bridge.settings import (
    DEFAULT_LEDGER_RETENTION_DAYS,
    DEFAULT_MAX_CALL_SECONDS,
    ForwardRetry,
    LedgerSettings,
    ParkingSettings,
    RegistrySettings,
    TwilioAccount,
    TwilioApi,
)
from bridge.sources.profiles import COMPLIANCE
from bridge.sources.signatures import parse_secrets
from bridge.usecases.call_message_out import Forwarder, ForwardFailed
from bridge.usecases.udm_out import UdmOut
from local import state
from ops import smoke as smoke_test
from ops import streams as stream_failures

LOCAL_TWILIO_SECRET = "udm-bridge/local/twilio"
LOCAL_WEBHOOK_SECRET = "udm-bridge/local/webhook"
LOCAL_FORWARD_SECRET = "udm-bridge/local/forward"
# Locally, resources are named after their logical IDs.
LOCAL_OUTPUTS = {
    "CallsTableName": "CallsTable",
    "LedgerTableName": "LedgerTable",
    "ParkedTableName": "ParkedTable",
    "StreamFailuresQueueUrl": "StreamFailuresQueue",
}
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
    def local(self) -> state.Endpoints:
        """The running `make run` stack (whatever ports it took), else the default ports."""
        return state.endpoints()

    @cached_property
    def endpoint(self) -> str | None:
        return self.args.endpoint_url or (self.local.aws if self.args.local else None)

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
            if name == "StreamFailuresQueueUrl":
                return str(self.client("sqs").get_queue_url(QueueName=LOCAL_OUTPUTS[name])["QueueUrl"])
            return LOCAL_OUTPUTS[name]
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
        calls_table = self.output("CallsTableName", self.args.table)
        return bootstrap.registry(RegistrySettings(calls_table), client=self.client("dynamodb"))

    @cached_property
    def ledger_settings(self) -> LedgerSettings:
        # The functions' retention, for what this target records (a flush redriven from the stream).
        retention_days = int(self.parameter("LedgerRetentionDays", None, str(DEFAULT_LEDGER_RETENTION_DAYS)))
        return LedgerSettings(self.output("LedgerTableName", self.args.ledger_table), retention_days * 86400)

    @cached_property
    def ledger(self) -> DynamoLedger:
        return bootstrap.ledger(self.ledger_settings, client=self.client("dynamodb"))

    @cached_property
    def udm_out(self) -> UdmOut:
        """The functions' own delivery chain: the same client, retry budget and backoff."""
        twilio = TwilioApi(
            account=TwilioAccount(self.parameter("TwilioSecretArn", self.args.twilio_secret_id, LOCAL_TWILIO_SECRET)),
            api_base_url=self.args.twilio_api_base_url or (self.local.twilio if self.args.local else None),
        )
        secrets = SecretStore(max_age_seconds=0, client=self.client("secretsmanager"))
        return bootstrap.udm_out(twilio, secrets, self.registry)

    @cached_property
    def forwarder(self) -> Forwarder:
        """The forward function's chain: the same signing, retries and backoff."""
        url = self.parameter("ForwardUrl", self.args.forward_url, self.local.forward)
        if not url:
            raise SystemExit("forwarding is not configured (no ForwardUrl); pass --forward-url")
        secret_id = self.parameter("ForwardSecretArn", self.args.forward_secret_id, LOCAL_FORWARD_SECRET)
        secrets = SecretStore(max_age_seconds=0, client=self.client("secretsmanager"))
        return bootstrap.forwarder(url, secret_id, secrets, ForwardRetry().policy())

    @cached_property
    def stream_router(self) -> FlushStreamRouter:
        """FlushFunction's own router and flush use case, on this target's tables."""
        parking = ParkingSettings(parked_table=self.output("ParkedTableName", None))
        client = self.client("dynamodb")
        flush = bootstrap.parked_flush(parking, self.ledger_settings, self.registry, self.udm_out, client=client)
        return FlushStreamRouter(
            calls_table=self.output("CallsTableName", self.args.table), parked_table=parking.parked_table, flush=flush
        )

    def smoke_endpoints(self) -> smoke_test.Endpoints:
        if self.args.local:
            front = self.args.api_url or self.local.front
            return smoke_test.Endpoints(events_url=f"{front}/events", calls_url=f"{front}/calls/", local=True)
        if self.args.api_url:
            base = self.args.api_url.rstrip("/")
            return smoke_test.Endpoints(events_url=f"{base}/events", calls_url=f"{base}/calls/", local=False)
        return smoke_test.Endpoints(
            events_url=self.output("EventsUrl", None), calls_url=self.output("CallsUrl", None), local=False
        )

    def webhook_secret(self) -> str:
        """The default source's newest webhook secret, read as the ingest function reads it."""
        secret_id = self.parameter("WebhookSecretArn", None, LOCAL_WEBHOOK_SECRET)
        raw = self.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]
        secrets = parse_secrets(raw).get("default", ())
        if not secrets:
            raise SystemExit(f"the webhook secret {secret_id} has no secret for the default source")
        return secrets[-1]


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
                # Phone numbers are personal data: listed masked; `calls get` takes the full key.
                rows.append({"key": mask_key(key), "call_sid": live[0][0], "calls": len(live)})
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
        entries, malformed = target.ledger.failed_since(_since(args.since), include_replayed=args.include_replayed)
        _emit([entry.as_dict() for entry in entries])
        _skipped(malformed)
        return 1 if malformed else 0
    if args.all_failed:
        entries, malformed = target.ledger.failed_since(_since(args.since))
        _skipped(malformed)
    elif args.event_key:
        entry = target.ledger.get(args.event_key)
        if entry is None:
            raise SystemExit(f"no ledger entry for {args.event_key}")
        if isinstance(entry, MalformedEntry):
            print(f"the ledger item {entry.event_key} is malformed ({entry.problem})", file=sys.stderr)
            return 1
        entries, malformed = [entry], []
    else:
        raise SystemExit("name an event key, or --all-failed")
    failures = len(malformed)
    for entry in entries:
        result = replay(entry, target, args.to, force=args.force)
        failures += result["status"] not in ("delivered", "forwarded")
        _emit(result)
    return 1 if failures else 0


def _skipped(malformed: list[MalformedEntry]) -> None:
    for item in malformed:
        print(f"skipped malformed ledger item {item.event_key or '(no event_key)'}: {item.problem}", file=sys.stderr)


def replay(entry: LedgerEntry, target: Target, to: str | None, *, force: bool = False) -> dict[str, Any]:
    """Redelivers with the original key as IdempotencyKey, so a replay can't double a delivery."""
    if entry.reason == Outcome.FORWARD_FAILED:
        return replay_forward(entry, target)
    if entry.reason == COMPLIANCE:
        detail = "a compliance request is for the operator to act on; it is never shown on a call"
        return {"event_key": entry.event_key, "status": "not_replayed", "detail": detail}
    if entry.reason == Outcome.STALE and not (to or force):
        # Its recipient's current call is not one it could be about: only the operator may decide.
        return {
            "event_key": entry.event_key,
            "status": "refused",
            "reason": Outcome.STALE,
            "detail": f"the event was too old for {entry.recipient}'s call when it arrived, so it would reach a "
            "call it is not about; pass --to KEY to deliver it to a call you choose, or --force to deliver "
            "it to the recipient's current call anyway",
        }
    key = recipient_key(to) if to else entry.recipient
    call = target.registry.active_call(key)
    if call is None:
        return {"event_key": entry.event_key, "status": "no_active_call", "recipient": key}
    try:
        idempotency_key = delivery_key(entry.event_delivery_key, call.call_sid)
        sent = target.udm_out.send(key, call.call_sid, entry.content, idempotency_key, Deadline.after(REPLAY_SECONDS))
    except BridgeError as error:
        return {"event_key": entry.event_key, "status": error.code, "detail": error.detail}
    target.ledger.mark_replayed(entry.event_key, sent.message_sid)
    return {
        "event_key": entry.event_key,
        "status": "delivered",
        "call_sid": call.call_sid,
        "message_sid": sent.message_sid,
    }


def replay_forward(entry: LedgerEntry, target: Target) -> dict[str, Any]:
    """Forwards a call message again with its SID as webhook-id, so the receiver can dedupe it."""
    try:
        forwarded = target.forwarder.deliver(entry.event_id, entry.content, Deadline.after(REPLAY_SECONDS))
    except ForwardFailed as failed:
        return {"event_key": entry.event_key, "status": Outcome.FORWARD_FAILED, "detail": failed.detail}
    target.ledger.mark_replayed(entry.event_key, entry.event_id)
    return {"event_key": entry.event_key, "status": "forwarded", "receiver_status": forwarded.status}


# -- streams and smoke -----------------------------------------------------------------------------


def streams(target: Target, args: argparse.Namespace) -> int:
    sqs, queue = target.client("sqs"), target.output("StreamFailuresQueueUrl", args.queue_url)
    if args.command == "failed":
        _emit(stream_failures.failed(sqs, queue))
        return 0
    results = stream_failures.redrive(sqs, queue, target.client("dynamodbstreams"), target.stream_router)
    _emit(results)
    return 1 if any(result["status"] != "redriven" for result in results) else 0


def smoke(target: Target, args: argparse.Namespace) -> int:
    results = smoke_test.run(target.smoke_endpoints(), target.webhook_secret())
    _emit(results)
    ok = all(result["ok"] for result in results)
    print("SMOKE OK" if ok else "SMOKE FAILED", file=sys.stderr)
    return 0 if ok else 1


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
    where.add_argument("--forward-url", help="where call messages are forwarded, for replays (skips the stack lookup)")
    where.add_argument("--forward-secret-id", help="the forward signing secret, for replays (skips the stack lookup)")
    where.add_argument("--queue-url", help="the stream failures queue (skips the stack lookup)")
    where.add_argument("--api-url", help="the API's base URL, for smoke (skips the stack lookup)")
    where.add_argument("--local", action="store_true", help="the running local stack (.run/stack.json), else 5005")
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
    replayer.add_argument(
        "--force", action="store_true", help="deliver stale events too (refused otherwise) to the recipient's call"
    )

    stream_group = groups.add_parser("streams", help="stream batches FlushFunction gave up on")
    stream_commands = stream_group.add_subparsers(dest="command", required=True)
    stream_commands.add_parser("failed", help="list the OnFailure queue's descriptions")
    stream_commands.add_parser("redrive", help="replay every described batch from the stream; delete what succeeds")

    groups.add_parser("smoke", help="post-deploy check: a signed event (404 no_active_call), unsigned requests refused")
    return root


def main(argv: list[str] | None = None, out: Any = None) -> int:
    args = parser().parse_args(argv)
    target = Target(args)
    OUT.stream = out or sys.stdout
    try:
        command = {"calls": calls, "events": events, "streams": streams, "smoke": smoke}[args.group]
        return command(target, args)
    except BridgeError as error:
        print(f"{error.title}: {error.detail}", file=sys.stderr)
        return 1
    finally:
        OUT.stream = sys.stdout


if __name__ == "__main__":
    sys.exit(main())
