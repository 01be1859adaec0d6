"""`make run`: the whole bridge on loopback, a demo call, one signed event end to end, then serve.

No Docker, no AWS account, no internet: moto's server stands in for DynamoDB and Secrets Manager,
the project's emulator for Twilio, and the HTTP front for API Gateway. Ports default to 3000, 5005
and 4010, or free ones when those are taken; while serving, .run/stack.json says which.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import requests

from bridge.domain.phones import mask_phones
from local import state
from local.stack import TWILIO_SECRET_NAME, WEBHOOK_SECRET_NAME, LocalStack, available
from local.state import LOG_FILE, ROOT

DEMO_IDENTITY = "alice"
DEMO_KEY = f"identity:{DEMO_IDENTITY}"


def step(number: int, text: str) -> None:
    say(f"\n[{number}] {text}")


def _ports(args: argparse.Namespace) -> dict[str, int]:
    """The asked-for ports; where none was asked for, the default, or a free one when it is taken."""
    chosen = {}
    for name, asked, default in (
        ("HTTP front", args.port, 3000),
        ("moto", args.aws_port, 5005),
        ("Twilio emulator", args.twilio_port, 4010),
        ("CRM receiver", args.forward_port, 4020),
        ("console", args.console_port, 4030),
    ):
        chosen[name] = asked if asked is not None else available(args.host, default)
        if asked is None and chosen[name] == 0:
            say(f"port {default} is taken: the {name} takes a free one (below)")
    return chosen


def _quiet(verbose: bool) -> None:
    """The demo's output is its steps: the functions' JSON logs, EMF metrics and warnings go to a file."""
    if verbose:
        return
    LOG_FILE.parent.mkdir(exist_ok=True)
    log = LOG_FILE.open("a", encoding="utf-8", buffering=1)
    logging.basicConfig(stream=log, level=logging.INFO, force=True)
    logging.captureWarnings(True)
    # Powertools writes logs and EMF to sys.stdout; the steps go to the terminal through CONSOLE.
    CONSOLE.stream = sys.stdout
    sys.stdout = log
    print(f"logs: {LOG_FILE.relative_to(ROOT)} (or make run ARGS=--verbose)", file=CONSOLE.stream, flush=True)


class CONSOLE:
    stream: TextIO = sys.stdout


def say(text: str = "") -> None:
    # Phone numbers are personal data: the demo's lines show them masked, as the bridge's logs do.
    print(mask_phones(text), file=CONSOLE.stream, flush=True)


def answer_from_the_call(stack: LocalStack, call_sid: str) -> bool:
    """The agent's app answers with call.sendMessage; the CRM's receiver verifies the forwarded webhook."""
    step(8, f'{DEMO_IDENTITY}\'s app sends {{"verified": true}} from the call (call.sendMessage)')
    deadline = time.monotonic() + 10
    while not stack.emulator.subscriptions.every(call_sid) and time.monotonic() < deadline:
        time.sleep(0.05)  # the CallsTable stream subscribes the SDK leg in the background
    for subscription in stack.emulator.subscriptions.every(call_sid):
        say(f"    subscription {subscription['sid']} -> {subscription['callback']}")
    emulator = stack.emulator
    sent = emulator.subscriptions.send(emulator, call_sid, {"verified": True}, "application/json", "form")
    say(f"    Twilio calls the subscription's Callback: {[d['status_code'] for d in sent['deliveries']]}")
    while not stack.receiver.for_message(sent["sid"]) and time.monotonic() < deadline:
        time.sleep(0.05)  # queued in SQS, forwarded by ForwardFunction
    return any(d.verified is not None and d.status < 300 for d in stack.receiver.for_message(sent["sid"]))


def _event(kind: str, to: str, data: dict[str, object], **card: str) -> str:
    """An envelope; `card` may name its card's title and summary."""
    now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return json.dumps({"type": kind, "timestamp": now, "to": to, "data": data, **card})


def _code(reply: requests.Response) -> str:
    """A problem's code or an answer's status: `no_active_call` is either, whichever the bridge answers."""
    body = reply.json()
    return str(body.get("code") or body.get("status") or "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the bridge locally and deliver a demo event.")
    parser.add_argument("--port", type=int, help="HTTP front port (default 3000, or a free one when it is taken)")
    parser.add_argument("--aws-port", type=int, help="moto server port (default 5005, or a free one)")
    parser.add_argument("--twilio-port", type=int, help="Twilio emulator port (default 4010, or a free one)")
    parser.add_argument(
        "--forward-port", type=int, help="webhook receiver port of the demo CRM (default 4020, or free)"
    )
    parser.add_argument("--console-port", type=int, help="the console's port (default 4030, or a free one)")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on; 0.0.0.0 lets containers (sam local invoke) reach the stack. Default: loopback",
    )
    parser.add_argument("--verbose", action="store_true", help="show the functions' logs and metrics")
    parser.add_argument("--no-serve", action="store_true", help="exit after the demo instead of serving")
    parser.add_argument(
        "--state-file",
        type=Path,
        default=state.STATE_FILE,
        help="where to record the endpoints while serving (default .run/stack.json, which other commands read)",
    )
    args = parser.parse_args(argv)
    _quiet(args.verbose)

    ports = _ports(args)
    stack = LocalStack(
        host=args.host,
        moto_port=ports["moto"],
        emulator_port=ports["Twilio emulator"],
        front_port=ports["HTTP front"],
        receiver_port=ports["CRM receiver"],
        console_port=ports["console"],
    )
    stack.receiver.printer = lambda line: say(f"    CRM: {line}")
    stack.start()
    stack.apply_environment()
    assert stack.front is not None
    assert stack.console is not None
    front = stack.front.base_url
    account = stack.credentials.account
    # The console is on loopback whatever --host says: it shows everything the stack holds.
    say(f"console: {stack.console.url}  (live calls, each agent's cards, events, the ledger; local only)")

    step(1, f"moto server (DynamoDB, Secrets Manager, SQS) at {stack.aws_endpoint}")
    say(f"    tables from template.yaml: {', '.join(stack.template.tables())}")
    say(f"    secrets seeded: {TWILIO_SECRET_NAME}, {WEBHOOK_SECRET_NAME} (random values, local only)")
    step(2, f"Twilio emulator at {stack.emulator.base_url} (account {account.account_sid})")
    step(3, f"HTTP front at {front}, routes from template.yaml:")
    for function in stack.functions.values():
        for route in function.routes:
            auth = "IAM, not enforced locally" if route.auth == "AWS_IAM" else "public; the function checks signatures"
            say(f"    {route.route_key:<26} -> {function.logical_id} ({auth})")

    callback = f"{front}/twilio/call-status"
    step(4, f"a caller rings {DEMO_IDENTITY}'s Voice SDK app: <Dial><Client statusCallback={callback}>")
    placed = stack.emulator.place_inbound(DEMO_IDENTITY, callback)
    stack.emulator.answer(placed["child"])
    caller = placed["caller"]
    say(f"    caller's leg {placed['parent']} from {caller}, SDK leg {placed['child']}: initiated, ringing, answered")
    say(f"    status callbacks sent, signed with the auth token: {len(stack.emulator.callbacks())}")
    mapping = requests.get(f"{front}/calls/{DEMO_KEY}", timeout=30)
    say(f"    GET /calls/{DEMO_KEY} -> {mapping.status_code} {mapping.text}")
    registered = mapping.status_code == 200 and mapping.json()["call_sid"] == placed["child"]

    body = _event(
        "crm.customer.identified",
        DEMO_KEY,
        {"customer_id": "cus_042", "name": "Ada Lovelace", "tier": "gold", "open_tickets": 2},
        title="Ada Lovelace is on the line",
        summary="Gold customer cus_042 with 2 open tickets.",
    )
    headers = stack.sign(body, event_id=f"evt_demo_{uuid.uuid4().hex[:12]}")
    step(5, f"a CRM sends a signed event (webhook-id {headers['webhook-id']}) to POST /events")
    reply = requests.post(f"{front}/events", data=body.encode("utf-8"), headers=headers, timeout=30)
    say(f"    -> {reply.status_code} {reply.text}")

    messages = stack.emulator.messages()
    step(6, f"the Twilio emulator holds {len(messages)} User Defined Message(s):")
    for message in messages:
        say(f"    {message['sid']} on {message['call_sid']} IdempotencyKey={message['idempotency_key']}")
        say(f"    Content: {message['content']}")
    delivered = reply.status_code == 200 and any(
        m["idempotency_key"] == f"{headers['webhook-id']}@{placed['child']}" for m in messages
    )

    phone_key = f"phone:{placed['caller']}"
    by_number = _event(
        "helpdesk.ticket.updated",
        phone_key,
        {"ticket": "T-1009", "subject": "Refund for order 1042", "priority": "high"},
    )
    numbered = stack.sign(by_number, event_id=f"evt_demo_{uuid.uuid4().hex[:12]}")
    step(7, f"a helpdesk knows the customer by their number: an event for {phone_key} to POST /events")
    say(f"    the SDK leg's callbacks carried the caller's number as From: the leg is under {phone_key} too")
    by_phone = requests.post(f"{front}/events", data=by_number.encode("utf-8"), headers=numbered, timeout=30)
    say(f"    -> {by_phone.status_code} {by_phone.text}")
    reached = by_phone.status_code == 200 and by_phone.json().get("call_sid") == placed["child"]

    answered = answer_from_the_call(stack, placed["child"])

    step(9, f"{DEMO_IDENTITY} hangs up: the completed callbacks remove the mapping, and the number's")
    stack.emulator.hang_up(placed["child"])
    after = requests.get(f"{front}/calls/{DEMO_KEY}", timeout=30)
    say(f"    GET /calls/{DEMO_KEY} -> {after.status_code} {after.json().get('code', '')}")
    late = stack.sign(body)
    again = requests.post(f"{front}/events", data=body.encode("utf-8"), headers=late, timeout=30)
    say(f"    a new event now -> {again.status_code} {_code(again)}")
    late_by_number = requests.post(
        f"{front}/events", data=by_number.encode(), headers=stack.sign(by_number), timeout=30
    )
    say(f"    a new event for {phone_key} -> {late_by_number.status_code} {_code(late_by_number)}")
    cleared = after.status_code == 404 and _code(again) == _code(late_by_number) == "no_active_call"

    step(10, f"a new call rings {DEMO_IDENTITY} and she answers: she stays on it for the events you send")
    second = stack.emulator.place_inbound(DEMO_IDENTITY, callback)
    stack.emulator.answer(second["child"])
    live = requests.get(f"{front}/calls/{DEMO_KEY}", timeout=30)
    say(f"    SDK leg {second['child']}: GET /calls/{DEMO_KEY} -> {live.status_code}")
    # The CRM identifies the new caller too: her agent panel in the console shows its card.
    welcome = _event(
        "crm.customer.identified",
        DEMO_KEY,
        {"customer_id": "cus_077", "name": "Grace Hopper", "tier": "platinum", "open_tickets": 0},
        title="Grace Hopper is on the line",
        summary="Platinum customer cus_077, no open tickets.",
    )
    shown = requests.post(f"{front}/events", data=welcome.encode(), headers=stack.sign(welcome), timeout=30)
    say(f"    the CRM's event for the new caller -> {shown.status_code} {_code(shown)}")
    on_call = (
        live.status_code == 200
        and live.json()["call_sid"] == second["child"]
        and shown.status_code == 200
        and shown.json().get("call_sid") == second["child"]
    )

    ok = registered and delivered and reached and answered and cleared and on_call
    say(
        "\nDEMO OK: the call registered itself, the events for the agent and for the caller's number reached it,"
        " the agent's answer reached the CRM, its end cleared it, and a new call is live with the CRM's card."
        if ok
        else f"\nDEMO FAILED: see {LOG_FILE.relative_to(ROOT)} (or run with --verbose)."
    )
    if args.no_serve or not ok:
        stack.stop()
        return 0 if ok else 1

    # Clients on this machine reach a stack listening on every address through loopback.
    here = {"front": front, "aws": stack.aws_endpoint, "twilio": stack.emulator.base_url, "forward": stack.receiver.url}
    here = {name: url.replace("://0.0.0.0:", "://127.0.0.1:") for name, url in here.items()}
    state.write(state.Endpoints(**here, pid=os.getpid(), console=stack.console.url), args.state_file)
    try:
        _serve(stack, front, callback, args.state_file)
    finally:
        state.remove(os.getpid(), args.state_file)
        stack.stop()
    return 0


def _serve(stack: LocalStack, front: str, callback: str, state_file: Path) -> None:
    emulator = stack.emulator.base_url
    where = state_file.relative_to(ROOT) if state_file.is_relative_to(ROOT) else state_file
    console = stack.console.url if stack.console is not None else ""
    say(
        f"""
Serving until Ctrl-C. Other commands find this stack through {where}.
  Console:              {console}   (open it in a browser: calls, cards, events, ledger)
  Webhook secret (local, random per run): {stack.credentials.webhook_secret}
  Send your own event:  .venv/bin/python -m local.sign events/body-customer-identified.json --send
  Who is on a call:     .venv/bin/udm-bridge --local calls list
  Place a new call:     curl -s -X POST {emulator}/_emulator/calls/inbound \\
                          -d '{{"identity": "alice", "status_callback": "{callback}"}}'
  Messages at Twilio:   curl -s {emulator}/_emulator/messages
  Answer from a call:   curl -s -X POST {emulator}/_emulator/calls/<SDK leg>/messages \\
                          -d '{{"content": {{"verified": true}}}}'   (the CRM at {stack.receiver.url} prints it)
  Smoke test:           .venv/bin/udm-bridge --local smoke
  URLs for curl:        eval "$(.venv/bin/python -m local.state)"   (sets FRONT, AWS, TWILIO)
"""
    )
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with contextlib.suppress(KeyboardInterrupt):
        stopped.wait()


if __name__ == "__main__":
    sys.exit(main())
