"""`make run`: the whole bridge on loopback, a demo call, one signed event end to end, then serve.

No Docker, no AWS account, no internet: moto's server stands in for DynamoDB and Secrets Manager,
the project's emulator for Twilio, and the HTTP front for API Gateway.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
import time
import uuid
from datetime import UTC, datetime

import requests

from local.stack import TWILIO_SECRET_NAME, WEBHOOK_SECRET_NAME, LocalStack

DEMO_IDENTITY = "alice"
DEMO_KEY = f"identity:{DEMO_IDENTITY}"


def step(number: int, text: str) -> None:
    print(f"\n[{number}] {text}", flush=True)


def answer_from_the_call(stack: LocalStack, call_sid: str) -> bool:
    """The agent's app answers with call.sendMessage; the CRM's receiver verifies the forwarded webhook."""
    step(7, f'{DEMO_IDENTITY}\'s app sends {{"verified": true}} from the call (call.sendMessage)')
    deadline = time.monotonic() + 10
    while not stack.emulator.subscriptions.every(call_sid) and time.monotonic() < deadline:
        time.sleep(0.05)  # the CallsTable stream subscribes the SDK leg in the background
    for subscription in stack.emulator.subscriptions.every(call_sid):
        print(f"    subscription {subscription['sid']} -> {subscription['callback']}")
    emulator = stack.emulator
    sent = emulator.subscriptions.send(emulator, call_sid, {"verified": True}, "application/json", "form")
    print(f"    Twilio calls the subscription's Callback: {[d['status_code'] for d in sent['deliveries']]}")
    while not stack.receiver.for_message(sent["sid"]) and time.monotonic() < deadline:
        time.sleep(0.05)  # queued in SQS, forwarded by ForwardFunction
    return any(d.verified is not None and d.status < 300 for d in stack.receiver.for_message(sent["sid"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the bridge locally and deliver a demo event.")
    parser.add_argument("--port", type=int, default=3000, help="HTTP front port (API Gateway stand-in)")
    parser.add_argument("--aws-port", type=int, default=5005, help="moto server port")
    parser.add_argument("--twilio-port", type=int, default=4010, help="Twilio emulator port")
    parser.add_argument("--forward-port", type=int, default=4020, help="the CRM's webhook receiver port")
    parser.add_argument("--no-serve", action="store_true", help="exit after the demo instead of serving")
    args = parser.parse_args(argv)

    stack = LocalStack(
        moto_port=args.aws_port, emulator_port=args.twilio_port, front_port=args.port, receiver_port=args.forward_port
    )
    stack.receiver.printer = lambda line: print(f"    CRM: {line}", flush=True)
    stack.start()
    stack.apply_environment()
    assert stack.front is not None
    front = stack.front.base_url
    account = stack.credentials.account

    step(1, f"moto server (DynamoDB, Secrets Manager) at {stack.aws_endpoint}")
    print(f"    tables from template.yaml: {', '.join(stack.template.tables())}")
    print(f"    secrets seeded: {TWILIO_SECRET_NAME}, {WEBHOOK_SECRET_NAME} (random values, local only)")
    step(2, f"Twilio emulator at {stack.emulator.base_url} (account {account.account_sid})")
    step(3, f"HTTP front at {front}, routes from template.yaml:")
    for function in stack.functions.values():
        for route in function.routes:
            auth = "IAM, not enforced locally" if route.auth == "AWS_IAM" else "public; the function checks signatures"
            print(f"    {route.route_key:<26} -> {function.logical_id} ({auth})")

    callback = f"{front}/twilio/call-status"
    step(4, f"a caller rings {DEMO_IDENTITY}'s Voice SDK app: <Dial><Client statusCallback={callback}>")
    placed = stack.emulator.place_inbound(DEMO_IDENTITY, callback)
    stack.emulator.answer(placed["child"])
    print(f"    caller's leg {placed['parent']}, SDK leg {placed['child']}: initiated, ringing, answered")
    print(f"    status callbacks sent, signed with the auth token: {len(stack.emulator.callbacks())}")
    mapping = requests.get(f"{front}/calls/{DEMO_KEY}", timeout=30)
    print(f"    GET /calls/{DEMO_KEY} -> {mapping.status_code} {mapping.text}")
    registered = mapping.status_code == 200 and mapping.json()["call_sid"] == placed["child"]

    body = json.dumps(
        {
            "type": "crm.customer.identified",
            "timestamp": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "to": DEMO_KEY,
            "data": {"customer_id": "cus_042", "name": "Ada Lovelace", "tier": "gold", "open_tickets": 2},
        }
    )
    headers = stack.sign(body, event_id=f"evt_demo_{uuid.uuid4().hex[:12]}")
    step(5, f"a CRM sends a signed event (webhook-id {headers['webhook-id']}) to POST /events")
    reply = requests.post(f"{front}/events", data=body.encode("utf-8"), headers=headers, timeout=30)
    print(f"    -> {reply.status_code} {reply.text}")

    messages = stack.emulator.messages()
    step(6, f"the Twilio emulator holds {len(messages)} User Defined Message(s):")
    for message in messages:
        print(f"    {message['sid']} on {message['call_sid']} IdempotencyKey={message['idempotency_key']}")
        print(f"    Content: {message['content']}")
    delivered = reply.status_code == 200 and any(
        m["idempotency_key"] == headers["webhook-id"] and m["call_sid"] == placed["child"] for m in messages
    )

    answered = answer_from_the_call(stack, placed["child"])

    step(8, f"{DEMO_IDENTITY} hangs up: the completed callbacks remove the mapping")
    stack.emulator.hang_up(placed["child"])
    after = requests.get(f"{front}/calls/{DEMO_KEY}", timeout=30)
    print(f"    GET /calls/{DEMO_KEY} -> {after.status_code} {after.json().get('code', '')}")
    late = stack.sign(body)
    again = requests.post(f"{front}/events", data=body.encode("utf-8"), headers=late, timeout=30)
    print(f"    a new event now -> {again.status_code} {again.json().get('code', '')}")
    cleared = after.status_code == 404 and again.status_code == 404

    ok = registered and delivered and answered and cleared
    print(
        "\nDEMO OK: the call registered itself, the event reached it, the agent's answer reached the CRM,"
        " and its end cleared it."
        if ok
        else "\nDEMO FAILED: see the logs above."
    )
    if args.no_serve or not ok:
        stack.stop()
        return 0 if ok else 1

    print(
        f"""
Serving until Ctrl-C.
  Webhook secret (local, random per run): {stack.credentials.webhook_secret}
  Send your own event:  .venv/bin/python -m local.sign events/body-customer-identified.json --send
  Place a call:         curl -s -X POST {stack.emulator.base_url}/_emulator/calls/inbound \\
                          -d '{{"identity": "alice", "status_callback": "{callback}"}}'
  Look at a mapping:    curl -s {front}/calls/{DEMO_KEY}   (or .venv/bin/udm-bridge --local calls list)
  Messages at Twilio:   curl -s {stack.emulator.base_url}/_emulator/messages
  Answer from a call:   curl -s -X POST {stack.emulator.base_url}/_emulator/calls/<SDK leg>/messages \\
                          -d '{{"content": {{"verified": true}}}}'   (the CRM at {stack.receiver.url} prints it)
""",
        flush=True,
    )
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with contextlib.suppress(KeyboardInterrupt):
        stopped.wait()
    stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
