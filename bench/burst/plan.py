"""What the senders will send, decided before the burst: which events, to whom, when, and which
ones a sender delivers twice. Seeded, so two runs with the same options offer the same load.

An event is one of:

* `live`: the bridge's own envelope (`POST /events`, Standard Webhooks) to a recipient on a live call;
* `no_one`: a Stripe event whose object names no agent (`POST /events/stripe`, no
  `metadata.identity`): it concerns no one, and the bridge acknowledges it without storing it.

A share of the events is delivered twice by its sender (at-least-once delivery: the same ID and body,
re-signed, a moment later). Retries of answers that were not 2xx are the sender's own, decided while
it sends (bench/burst/sender.py), on Svix's schedule compressed (`retry_delays`).
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any

LIVE, NO_ONE = "live", "no_one"

# Svix (Standard Webhooks' reference sender) retries a failed delivery after 5 s, 5 min, 30 min, 2 h,
# 5 h, 10 h and 10 h: https://docs.svix.com/retries
SVIX_RETRY_SECONDS = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
# A duplicate follows its original within this many seconds (a sender's redelivery of an
# acknowledgement it lost, or two workers sending the same event).
DUPLICATE_WITHIN_SECONDS = 2.0


@dataclass(frozen=True)
class Planned:
    index: int
    kind: str  # LIVE or NO_ONE
    event_id: str
    recipient: str | None  # the live call's key; None for an event that concerns no one
    at: float  # seconds after the burst starts: the first send
    duplicate_at: float | None  # when the sender sends it a second time, if it does

    @property
    def source(self) -> str:
        return "default" if self.kind == LIVE else "stripe"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def recipients(calls: int) -> list[str]:
    """The keys of the live calls the bench registers, one per simulated agent."""
    return [f"identity:burst-agent-{number:04d}" for number in range(calls)]


def plan(events: int, seconds: float, calls: int, *, no_one: float, duplicates: float, seed: int = 24) -> list[Planned]:
    """`events` events at uniformly random moments of `seconds`, in time order: a `no_one` share that
    concerns no one, the rest spread at random over the `calls` live calls, and a `duplicates` share
    of all of them sent twice."""
    if events < 1 or seconds <= 0 or calls < 1:
        raise ValueError("a burst needs events, a duration and calls")
    if not (0 <= no_one <= 1 and 0 <= duplicates <= 1):
        raise ValueError("shares are between 0 and 1")
    rng = random.Random(seed)
    keys = recipients(calls)
    moments = sorted(rng.uniform(0, seconds) for _ in range(events))
    planned = []
    for index, at in enumerate(moments):
        kind = NO_ONE if rng.random() < no_one else LIVE
        duplicate_at = at + rng.uniform(0, DUPLICATE_WITHIN_SECONDS) if rng.random() < duplicates else None
        planned.append(
            Planned(
                index=index,
                kind=kind,
                event_id=f"evt_burst_{seed}_{index:06d}_{rng.getrandbits(32):08x}",
                recipient=rng.choice(keys) if kind == LIVE else None,
                at=round(at, 4),
                duplicate_at=None if duplicate_at is None else round(duplicate_at, 4),
            )
        )
    return planned


def retry_delays(compression: float, attempts: int) -> list[float]:
    """The waits before each retry of a delivery a sender could not hand over: Svix's schedule divided
    by `compression`, for `attempts` sends in all (the first one included)."""
    if compression <= 0 or attempts < 1:
        raise ValueError("compression is positive and a delivery has at least one attempt")
    return [delay / compression for delay in SVIX_RETRY_SECONDS[: attempts - 1]]
