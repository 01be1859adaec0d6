"""The proof: a few hundred events through the local stack while Twilio and DynamoDB misbehave.

Senders behave like real ones (retry 5xx/409/429 with backoff, some twice at once); Twilio answers
429 with Retry-After, 5xx, too slowly, or drops the connection before or after accepting; DynamoDB
throttles through a fault proxy. Some recipients are on calls from the start, some register
mid-run (their events wait parked), some never do (their events expire into the ledger).

At the end: every accepted event reached its call exactly once or is in the ledger with a reason.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
import requests
from helpers import event_of, ledger_entry, new_event_body, wait_for

from bench import figures
from bridge import bootstrap
from local.dynamo_faults import DynamoFaultProxy, Rule
from local.front import HttpFront
from local.stack import LocalStack

pytestmark = pytest.mark.faults

EVENTS = 300
SENDERS = 8
SENDER_ATTEMPTS = 8
SEED = 20261128


@dataclass
class Plan:
    front: str
    live: list[str]
    late: list[str]
    never: list[str]
    proxy: DynamoFaultProxy
    calls: dict[str, str] = field(default_factory=dict)  # key -> the SDK leg it is on


@dataclass
class Ledgered:
    accepted: set[str] = field(default_factory=set)
    rejected: set[str] = field(default_factory=set)
    answers: Counter[int] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def plan(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Plan]:
    front = HttpFront(stack.functions, port=0).start()
    proxy = DynamoFaultProxy(stack.aws_endpoint, seed=SEED).start()
    # The functions reach DynamoDB through the fault proxy; Twilio gets a short timeout to exceed.
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", proxy.url)
    monkeypatch.setenv("PUBLIC_BASE_URL", front.base_url)
    monkeypatch.setenv("TWILIO_TIMEOUT_SECONDS", "0.5")
    monkeypatch.setenv("TWILIO_MAX_ATTEMPTS", "4")
    bootstrap.reset()
    stack.emulator.reset()
    tag = uuid.uuid4().hex[:6]
    callback = f"{front.base_url}/twilio/call-status"
    live = [f"agent{tag}l{i}" for i in range(6)]
    calls = {}
    for name in live:
        placed = stack.emulator.place_inbound(name, callback)
        stack.emulator.answer(placed["child"])
        calls[f"identity:{name}"] = placed["child"]
    yield Plan(
        front=front.base_url,
        live=[f"identity:{name}" for name in live],
        late=[f"identity:agent{tag}p{i}" for i in range(4)],
        never=[f"identity:agent{tag}n{i}" for i in range(2)],
        proxy=proxy,
        calls=calls,
    )
    proxy.stop()
    front.stop()
    stack.emulator.clear_faults()
    monkeypatch.undo()
    bootstrap.reset()


def send(
    stack: LocalStack, front: str, body: dict[str, object], event_id: str, seen: Ledgered, rng: random.Random
) -> None:
    """A sender as Standard Webhooks senders behave: retry what says retry, with backoff, then give up."""
    raw = json.dumps(body)
    for attempt in range(SENDER_ATTEMPTS):
        try:
            reply = requests.post(
                f"{front}/events", data=raw.encode(), headers=stack.sign(raw, event_id=event_id), timeout=30
            )
            status = reply.status_code
        except requests.RequestException:
            status = 599
        with seen.lock:
            seen.answers[status] += 1
            if 200 <= status < 300:
                seen.accepted.add(event_id)
        if 200 <= status < 300 or status not in (409, 429, 500, 502, 503, 599):
            if not 200 <= status < 300:
                with seen.lock:
                    seen.rejected.add(event_id)
            return
        time.sleep(min(1.0, 0.05 * 2**attempt) * rng.uniform(0.5, 1.0))
    with seen.lock:
        seen.rejected.add(event_id)


def chaos(stack: LocalStack, stop: threading.Event, rng: random.Random) -> None:
    faults = [
        {"status": 429, "retry_after": 0},
        {"status": 429, "retry_after": 0},
        {"status": 500},
        {"status": 503},
        {"status": 429, "retry_after": 1},
        {"latency_ms": 700},
        {"drop": "before"},
        {"drop": "after"},
    ]
    deadline = time.monotonic() + 120
    while not stop.is_set() and time.monotonic() < deadline:
        stack.emulator.add_fault({**rng.choice(faults), "count": 1})
        stop.wait(0.1)


@pytest.mark.timeout(300)
def test_nothing_lost_nothing_doubled(stack: LocalStack, plan: Plan, capsys: pytest.CaptureFixture[str]) -> None:
    rng = random.Random(SEED)
    seen = Ledgered()
    work: list[tuple[dict[str, object], str]] = []
    for index in range(EVENTS):
        roll = rng.random()
        if roll < 0.6:
            body = new_event_body(rng.choice(plan.live))
        elif roll < 0.7:
            # Several recipients: two agents' calls, or an agent's and a late one's
            body = new_event_body(
                rng.sample(plan.live, 2) if roll < 0.65 else [rng.choice(plan.live), rng.choice(plan.late)],
                hold_seconds=120,
            )
        elif roll < 0.9:
            body = new_event_body(rng.choice(plan.late), hold_seconds=120)
        else:
            body = new_event_body(rng.choice(plan.never), hold_seconds=1)
        work.append((body, f"evt_fault_{index}_{uuid.uuid4().hex[:8]}"))
    # Some senders fire the same event twice at once.
    work += [item for item in work if rng.random() < 0.1]
    rng.shuffle(work)

    stop = threading.Event()
    chaos_thread = threading.Thread(target=chaos, args=(stack, stop, random.Random(SEED + 1)), daemon=True)
    plan.proxy.set_rules(Rule(rate=0.04, error="ThrottlingException"), Rule(rate=0.01, error="InternalServerError"))
    chaos_thread.start()
    started = time.monotonic()
    callback = f"{plan.front}/twilio/call-status"
    try:
        with ThreadPoolExecutor(max_workers=SENDERS) as pool:
            futures = []
            for number, (body, event_id) in enumerate(work):
                if number == len(work) // 3:
                    # The late recipients' calls start now: their parked events must be flushed.
                    for key in plan.late:
                        placed = stack.emulator.place_inbound(key.split(":", 1)[1], callback)
                        stack.emulator.answer(placed["child"])
                        plan.calls[key] = placed["child"]
                futures.append(pool.submit(send, stack, plan.front, body, event_id, seen, random.Random(number)))
            for future in futures:
                future.result()
    finally:
        stop.set()
        chaos_thread.join()
        stack.emulator.clear_faults()
        plan.proxy.set_rules()

    # Each (event, recipient) an accepted event names must reach the recipient's call or the ledger.
    recipients = {e: recipients_of(body) for body, e in work}

    def outcome(event_id: str, key: str, on_calls: set[tuple[str, str]]) -> str | None:
        if (event_id, plan.calls.get(key, "")) in on_calls:
            return "delivered"
        entry_key = event_id if len(recipients[event_id]) == 1 else f"{event_id}#{key}"
        entry = ledger_entry(stack, entry_key)
        return entry["reason"] if entry else None

    # Let the streams flush the parked events and the TTL expire the never-delivered ones.
    def settled() -> bool:
        on_calls = {(event_of(m), m["call_sid"]) for m in stack.emulator.messages()}
        return all(outcome(e, key, on_calls) for e in seen.accepted for key in recipients[e])

    wait_for(settled, timeout=60, interval=0.5)
    stack.settle()

    messages = stack.emulator.messages()
    # One message per (event, call): the IdempotencyKey is both, so a repeat on one key is a duplicate.
    per_key = Counter(m["idempotency_key"] for m in messages)
    per_event = Counter(event_of(m) for m in messages)
    on_calls = {(event_of(m), m["call_sid"]) for m in messages}
    outcomes = {(e, key): outcome(e, key, on_calls) for e in seen.accepted for key in recipients[e]}
    delivered = {e for (e, _), found in outcomes.items() if found == "delivered"}
    reasons = Counter(found for found in outcomes.values() if found and found != "delivered")
    lost = sorted(pair for pair, found in outcomes.items() if found is None)
    several = sum(1 for e in seen.accepted if len(recipients[e]) > 1)
    duplicates = sum(count - 1 for count in per_key.values() if count > 1)
    unaccepted_delivered = sorted(key for key in per_event if key not in seen.accepted)
    stats = stack.emulator.stats()
    parked_keys = set(plan.late) | set(plan.never)
    parked = sum(1 for body, e in work if set(recipients_of(body)) & parked_keys and e in seen.accepted)
    totals = (
        f"FAULT SUITE: sent={len({e for _, e in work})} accepted={len(seen.accepted)} delivered={len(delivered)} "
        f"several_recipients={several} "
        f"duplicates_at_twilio={duplicates} lost={len(lost)} gave_up={len(seen.rejected - seen.accepted)} "
        f"parked~={parked} expired={reasons.get('expired', 0)} ledger={dict(reasons)} "
        f"twilio_posts={stats['udm_requests']} twilio_faults={stats['faults_injected']} "
        f"dynamodb_faults={plan.proxy.stats['faults']}/{plan.proxy.stats['requests']} "
        f"answers={dict(sorted(seen.answers.items()))} seconds={time.monotonic() - started:.1f}"
    )
    with capsys.disabled():
        print("\n" + totals)  # noqa: T201 - the suite's one line of totals
    figures.record_fault_totals(totals)  # docs/figures/faults.md, under make test-faults only

    assert duplicates == 0, totals
    assert lost == [], f"{totals}\nlost: {lost[:10]}"
    assert unaccepted_delivered == [] or all(per_key[k] == 1 for k in unaccepted_delivered)
    assert len(seen.accepted) >= EVENTS * 0.9, totals
    assert reasons.get("expired", 0) > 0, totals  # the never-registered recipients' events
    late = [(e, key) for body, e in work for key in recipients_of(body) if key in plan.late and e in seen.accepted]
    assert all(outcomes[pair] == "delivered" for pair in late), totals


def recipients_of(body: dict[str, object]) -> list[str]:
    to = body["to"]
    return list(to) if isinstance(to, list) else [str(to)]
