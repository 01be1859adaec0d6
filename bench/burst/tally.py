"""From what the senders saw, what Twilio received and what the bridge kept, the burst's figures.

Pure functions of plain data, so the arithmetic is tested on its own (tests/unit/test_burst_report.py).
Definitions, as the report prints them:

* an event is *accepted* when one of its sends got a 2xx that took it on: `delivered`, `parked` or
  `stale` (an `ignored` one concerns no one, and nothing of it is kept);
* *delivered*: Twilio created a message whose Content carries the event's ID; a *duplicate* is a
  second message of one event on one call;
* *lost*: accepted, yet not delivered, not in the ledger and not still parked when the run ended;
* *late*: delivered after the `expires_at` its `parked` answer promised;
* acceptance to UDM: from the start of the send the bridge accepted to the message's creation at
  Twilio; offer to UDM: from the event's first send.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.burst.plan import LIVE
from bench.stats import percentile

ACCEPTED = frozenset({"delivered", "parked", "stale"})
IGNORED = "ignored"


@dataclass
class Burst:
    """What the burst's figures are computed from."""

    plan: Sequence[Mapping[str, Any]]
    attempts: Sequence[Mapping[str, Any]]
    messages: Sequence[Mapping[str, Any]]
    ledger: Sequence[Mapping[str, Any]]
    parked: Sequence[Mapping[str, Any]]
    calls: Mapping[str, str]  # recipient key -> the call SID it registered
    started: float  # Unix time the burst began
    seconds: float
    twilio_limit: int
    twilio_ms: float
    extra: dict[str, Any] = field(default_factory=dict)


def answers(attempts: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Every answer the senders got, as `status outcome` (`0 ConnectTimeout` for no answer at all)."""
    counted = Counter(f"{attempt['status']} {attempt.get('outcome') or '-'}" for attempt in attempts)
    return dict(sorted(counted.items(), key=lambda item: (int(item[0].split()[0]), -item[1], item[0])))


def by_class(attempts: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """The answers by class: 2xx, 4xx, 5xx, and none (a timeout or a refused connection)."""
    classes: Counter[str] = Counter()
    for attempt in attempts:
        status = int(attempt["status"])
        classes["none" if status == 0 else f"{status // 100}xx"] += 1
    return {name: classes.get(name, 0) for name in ("2xx", "4xx", "5xx", "none")}


def sends(attempts: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """How many sends were first sends, planned duplicates, and the senders' retries."""
    counted = Counter(
        "retries" if attempt["attempt"] > 1 else ("duplicates" if attempt["copy"] else "first") for attempt in attempts
    )
    return {name: counted.get(name, 0) for name in ("first", "duplicates", "retries")}


def message_event_id(message: Mapping[str, Any]) -> str | None:
    try:
        content = json.loads(message["content"])
    except (ValueError, TypeError):
        return None
    found = content.get("id") if isinstance(content, dict) else None
    return found if isinstance(found, str) else None


def tally(burst: Burst) -> dict[str, Any]:
    plan = {int(event["index"]): event for event in burst.plan}
    index_of = {event["event_id"]: index for index, event in plan.items()}
    by_event: dict[int, list[Mapping[str, Any]]] = defaultdict(list)
    for attempt in burst.attempts:
        by_event[int(attempt["i"])].append(attempt)

    accepted_at: dict[int, float] = {}
    promised: dict[int, float] = {}
    ignored: set[int] = set()
    for index, attempts in by_event.items():
        for attempt in sorted(attempts, key=lambda a: a["start"]):
            if not 200 <= int(attempt["status"]) < 300:
                continue
            if attempt.get("outcome") == IGNORED:
                ignored.add(index)
            elif attempt.get("outcome") in ACCEPTED:
                accepted_at.setdefault(index, float(attempt["start"]))
                if attempt.get("expires_at") is not None:
                    promised.setdefault(index, float(attempt["expires_at"]))
    answered = {index for index, attempts in by_event.items() if any(200 <= a["status"] < 300 for a in attempts)}

    first_udm: dict[int, float] = {}
    per_call: Counter[tuple[int, str]] = Counter()
    foreign = misdelivered = 0
    for message in burst.messages:
        found = index_of.get(message_event_id(message) or "")
        if found is None:
            foreign += 1
            continue
        index = found
        per_call[(index, message["call_sid"])] += 1
        if message["call_sid"] != burst.calls.get(plan[index].get("recipient") or ""):
            misdelivered += 1
        created = message.get("created_at")
        if created is not None:
            first_udm[index] = min(first_udm.get(index, created), float(created))
    delivered = {index for index, _ in per_call}

    ledgered: dict[int, str] = {}
    for entry in burst.ledger:
        entry_index = index_of.get(str(entry.get("event_id", "")))
        if entry_index is not None:
            ledgered.setdefault(entry_index, str(entry.get("reason", "?")))
    still_parked = {index_of[p["event_id"]] for p in burst.parked if p.get("event_id") in index_of}

    accepted = set(accepted_at)
    lost = accepted - delivered - set(ledgered) - still_parked
    late = {index for index in delivered & set(promised) if first_udm.get(index, 0) > promised[index]}
    acceptance_ms = [max(0.0, first_udm[index] - accepted_at[index]) * 1000 for index in accepted & set(first_udm)]
    offer_ms = [
        max(0.0, first_udm[index] - min(a["start"] for a in by_event[index])) * 1000
        for index in set(first_udm) & set(by_event)
    ]
    live = [index for index, event in plan.items() if event["kind"] == LIVE]
    throughput = udm_throughput([m.get("created_at") for m in burst.messages], burst.started, burst.seconds)
    all_attempts = list(burst.attempts)
    return {
        "events": len(plan),
        "live_events": len(live),
        "no_one_events": len(plan) - len(live),
        "sends": sends(all_attempts),
        "answers": answers(all_attempts),
        "answer_classes": by_class(all_attempts),
        "sender_5xx": sum(1 for a in all_attempts if int(a["status"]) >= 500),
        "no_answer": sum(1 for a in all_attempts if int(a["status"]) == 0),
        "accepted": len(accepted),
        "ignored": len(ignored),
        "gave_up": len(set(plan) - answered),
        "delivered": len(delivered),
        "delivered_in_request": sum(
            1 for index in delivered if any(a.get("outcome") == "delivered" for a in by_event[index])
        ),
        "udms": len(burst.messages),
        "duplicates_at_twilio": sum(count - 1 for count in per_call.values()),
        "misdelivered": misdelivered,
        "foreign_udms": foreign,
        "ledgered": dict(Counter(ledgered[index] for index in accepted if index in ledgered)),
        "delivered_and_ledgered": len(delivered & set(ledgered)),
        "still_parked": len(still_parked & accepted - delivered),
        "lost": len(lost),
        "lost_examples": [plan[index]["event_id"] for index in sorted(lost)[:5]],
        "late": len(late),
        "accept_to_udm_ms": summary(acceptance_ms),
        "offer_to_udm_ms": summary(offer_ms),
        "twilio": throughput | per_slot(throughput["sustained_per_second"], burst.twilio_limit, burst.twilio_ms),
    }


def summary(values: Sequence[float]) -> dict[str, float | int]:
    return {
        "count": len(values),
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "max": max(values, default=float("nan")),
    }


def udm_throughput(
    created: Iterable[float | None], started: float, seconds: float, window: float = 10.0
) -> dict[str, float]:
    """Messages Twilio created per second while the burst lasted, and in its busiest `window` seconds
    (from the burst's start to the last message)."""
    moments = sorted(float(moment) for moment in created if moment is not None and moment >= started)
    during = sum(1 for moment in moments if moment < started + seconds)
    busiest, low = 0, 0
    for high, moment in enumerate(moments):
        while moments[low] <= moment - window:
            low += 1
        busiest = max(busiest, high - low + 1)
    return {
        "sustained_per_second": during / seconds if seconds > 0 else 0.0,
        "busiest_per_second": busiest / window,
        "window_seconds": window,
    }


def per_slot(per_second: float, limit: int, twilio_ms: float) -> dict[str, float]:
    """Messages per second per Twilio concurrency slot, and how much of a slot's most that is: a slot
    can carry at most one request per round trip (1000 / twilio_ms a second)."""
    slot = per_second / limit if limit else float("nan")
    most = 1000.0 / twilio_ms if twilio_ms > 0 else float("nan")
    return {"per_slot_per_second": slot, "slot_max_per_second": most, "slot_use": slot / most if most else float("nan")}


def offered_load(events: int, seconds: float, twilio_ms: float, limit: int) -> float:
    """The offered load in Twilio slots' worth (Little's law: arrivals per second x the round trip),
    as a multiple of the account's limit."""
    return events / seconds * (twilio_ms / 1000.0) / limit
