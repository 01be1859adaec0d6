"""Lambda SnapStart runtime hooks: prime before the snapshot, refresh after each restore.

`snapshot_restore_py` ships with Lambda's Python runtimes; elsewhere (tests, the local stack,
functions without SnapStart) registering is a no-op, and the hooks can still be called directly.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable

from bridge import bootstrap
from bridge.observability import logger


def prime_ingest() -> None:
    """Pays the first event's one-off costs into the snapshot, without secrets or connections in it."""
    from bridge.domain.events import DEFAULT_SOURCE
    from bridge.sources.cards import load_cards
    from bridge.sources.profiles import load_profiles

    # Every source's card specs, which a cold start without a snapshot compiles at the source's first event.
    cards = load_cards()
    for source in cards.sources:
        cards.sources[source]
    load_profiles()[DEFAULT_SOURCE].extract(
        {"webhook-id": "evt_prime"},
        {"type": "bridge.snapshot.prime", "timestamp": "2026-01-01T00:00:00Z", "to": "k", "data": {}},
    )
    # Builds the clients (no requests yet): settings parsed, botocore's service models loaded, the
    # Twilio adapter's HTTP pool built.
    bootstrap.ingest()
    logger.info("primed for snapshot")


def after_restore() -> None:
    """Every restored environment starts from the same memory: give each its own state again."""
    # Connections in the snapshot are dead or shared; cached secrets may have rotated since.
    bootstrap.reset()
    # The same snapshot means the same PRNG state: every environment would jitter in lockstep.
    random.seed(os.urandom(32))
    logger.info("restored from snapshot")


def register(before_snapshot: Callable[[], None], after: Callable[[], None] = after_restore) -> bool:
    """Registers the hooks when the runtime offers SnapStart; returns whether it did."""
    try:
        from snapshot_restore_py import register_after_restore, register_before_snapshot
    except ImportError:
        return False
    register_before_snapshot(before_snapshot)
    register_after_restore(after)
    return True
