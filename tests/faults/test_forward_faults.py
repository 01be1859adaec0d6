"""The proof for messages from the call: SDK users' messages through the local stack while the
receiver misbehaves (503, 429 with Retry-After, 500, answers slower than the timeout, down for a
while) and DynamoDB throttles.

At the end: every message the bridge accepted (204 to Twilio) reached the receiver, verified, at
least once, always under its own webhook-id, or is in the ledger as forward_failed, from where a
replay delivers it. Nothing is lost.
"""

from __future__ import annotations

import io
import json
import random
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from helpers import ledger_entry, wait_for
from standardwebhooks.webhooks import Webhook

from bench import figures
from bridge import bootstrap
from local.dynamo_faults import DynamoFaultProxy, Rule
from local.front import HttpFront
from local.stack import FORWARD_SECRET_NAME, LocalStack
from ops.cli import main

pytestmark = pytest.mark.faults

MESSAGES = 80
SEED = 20261201


@pytest.fixture
def calls(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    front = HttpFront(stack.functions, port=0).start()
    proxy = DynamoFaultProxy(stack.aws_endpoint, seed=SEED).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", proxy.url)
    monkeypatch.setenv("PUBLIC_BASE_URL", front.base_url)
    monkeypatch.setenv("FORWARD_TIMEOUT_SECONDS", "0.5")
    monkeypatch.setenv("FORWARD_MAX_ATTEMPTS", "4")
    bootstrap.reset()
    stack.emulator.reset()
    stack.receiver.reset()
    # Registration first, without faults: the subject here is what comes back from the calls.
    legs = []
    for index in range(4):
        placed = stack.emulator.place_inbound(
            f"agent{uuid.uuid4().hex[:6]}f{index}", f"{front.base_url}/twilio/call-status"
        )
        stack.emulator.answer(placed["child"])
        legs.append(placed["child"])
    wait_for(lambda: len(stack.emulator.subscriptions.every()) == len(legs), timeout=20)
    proxy.set_rules(Rule(rate=0.04, error="ThrottlingException"), Rule(rate=0.01, error="InternalServerError"))
    yield legs
    if stack.receiver._server is None:
        stack.receiver.start()
    stack.receiver.reset()
    proxy.stop()
    front.stop()
    monkeypatch.undo()
    bootstrap.reset()


def test_every_accepted_message_is_forwarded_or_ledgered_and_replayable(
    stack: LocalStack, calls: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(SEED)
    started = time.monotonic()
    receiver, emulator = stack.receiver, stack.emulator
    receiver.answer([rng.choice([503, 500, 204, 204]) for _ in range(40)])
    receiver.answer([429] * 10, retry_after=0)
    receiver.answer([204] * 10, delay=0.8)  # slower than FORWARD_TIMEOUT_SECONDS: the attempt times out

    def send(index: int) -> dict[str, Any]:
        if index == MESSAGES // 2:
            receiver.down()  # down for a while: these end in the ledger
        if index == MESSAGES // 2 + 10:
            time.sleep(3)
            receiver.start()
        encoding = "json" if index % 2 else "form"
        content = {"n": index, "verified": True}
        sent: dict[str, Any] = emulator.subscriptions.send(
            emulator, calls[index % len(calls)], content, "application/json", encoding
        )
        return sent

    with ThreadPoolExecutor(4) as pool:
        sent = list(pool.map(send, range(MESSAGES)))
    if receiver._server is None:
        receiver.start()
    accepted = {s["sid"] for s in sent if s["deliveries"][0]["status_code"] == 204}
    refused = Counter(s["deliveries"][0]["status_code"] for s in sent)

    def settled() -> bool:
        return all(delivered(receiver, sid) or failed(stack, sid) for sid in accepted)

    assert wait_for(settled, timeout=90, interval=0.5)
    ledgered = {sid for sid in accepted if failed(stack, sid)}
    forwarded_first_time = {sid for sid in accepted if delivered(receiver, sid)}

    # Replay what is in the ledger, as an operator would
    out = io.StringIO()
    where = ["--local", "--endpoint-url", stack.aws_endpoint, "--forward-url", receiver.url]
    main(
        [*where, "--forward-secret-id", FORWARD_SECRET_NAME, "events", "replay", "--all-failed", "--since", "1h"],
        out=out,
    )
    lost = {sid for sid in accepted if not delivered(receiver, sid)}
    secret = Webhook(stack.forward_secret)
    wrong_id = [d for d in receiver.deliveries if d.status < 300 and json.loads(d.body)["call_sid"] not in calls] + [
        d for d in receiver.deliveries if d.verified is None
    ]
    for delivery in receiver.deliveries:
        secret.verify(delivery.body, delivery.headers)
    attempts = Counter(d.headers["webhook-id"] for d in receiver.deliveries)
    totals = (
        f"FORWARD FAULTS: sent={MESSAGES} accepted={len(accepted)} answers={dict(refused)} "
        f"forwarded={len(forwarded_first_time)} ledger={len(ledgered)} lost={len(lost)} "
        f"receiver_requests={sum(attempts.values())} retried_ids={sum(1 for n in attempts.values() if n > 1)} "
        f"seconds={time.monotonic() - started:.1f}"
    )
    with capsys.disabled():
        print("\n" + totals)  # noqa: T201 - the suite's one line of totals
    figures.record_fault_totals(totals)  # docs/figures/faults.md, under make test-faults only
    assert lost == set(), totals
    assert wrong_id == [], totals
    assert len(accepted) >= MESSAGES * 0.8, totals
    assert ledgered, f"the receiver's downtime should have ledgered some messages: {totals}"


def delivered(receiver: Any, sid: str) -> bool:
    return any(d.status < 300 and d.verified is not None for d in receiver.for_message(sid))


def failed(stack: LocalStack, sid: str) -> bool:
    entry = ledger_entry(stack, f"call:{sid}")
    return entry is not None and entry["reason"] == "forward_failed"
