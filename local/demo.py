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
import uuid
from datetime import UTC, datetime

import requests

from local.stack import TWILIO_SECRET_NAME, WEBHOOK_SECRET_NAME, LocalStack

DEMO_KEY = "identity:alice"


def step(number: int, text: str) -> None:
    print(f"\n[{number}] {text}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the bridge locally and deliver a demo event.")
    parser.add_argument("--port", type=int, default=3000, help="HTTP front port (API Gateway stand-in)")
    parser.add_argument("--aws-port", type=int, default=5005, help="moto server port")
    parser.add_argument("--twilio-port", type=int, default=4010, help="Twilio emulator port")
    parser.add_argument("--no-serve", action="store_true", help="exit after the demo instead of serving")
    args = parser.parse_args(argv)

    stack = LocalStack(moto_port=args.aws_port, emulator_port=args.twilio_port, front_port=args.port)
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
            auth = "IAM, not enforced locally" if route.auth == "AWS_IAM" else "public, signed webhooks"
            print(f"    {route.route_key:<22} -> {function.logical_id} ({auth})")

    call = stack.emulator.create_call(account.account_sid, status="in-progress")
    step(4, f"the emulator places a Voice SDK call {call['sid']} (in-progress) for {DEMO_KEY}")
    reply = requests.put(f"{front}/calls/{DEMO_KEY}", json={"call_sid": call["sid"]}, timeout=30)
    print(f"    PUT /calls/{DEMO_KEY} -> {reply.status_code} {reply.text}")

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
    delivered = reply.status_code == 200 and any(m["idempotency_key"] == headers["webhook-id"] for m in messages)
    print("\nDEMO OK: the event reached the call." if delivered else "\nDEMO FAILED: see the logs above.")
    if args.no_serve or not delivered:
        stack.stop()
        return 0 if delivered else 1

    print(
        f"""
Serving until Ctrl-C.
  Webhook secret (local, random per run): {stack.credentials.webhook_secret}
  Send your own event:  .venv/bin/python -m local.sign events/body-customer-identified.json --send
  Look at a mapping:    curl -s {front}/calls/{DEMO_KEY}
  Messages at Twilio:   curl -s {stack.emulator.base_url}/_emulator/messages
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
