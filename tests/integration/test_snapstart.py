"""SnapStart hooks: priming builds what the first event needs; a restore gives each environment its own state."""

from __future__ import annotations

import random
import sys

import pytest
from helpers import Bridge, new_event_body

from bridge import bootstrap
from bridge.entrypoints import snapstart

pytestmark = pytest.mark.integration


def test_priming_imports_the_twilio_path_and_builds_the_service(bridge: Bridge) -> None:
    # Given a fresh container
    bootstrap.reset()

    # When the before-snapshot hook runs
    snapstart.prime_ingest()

    # Then the first event's lazy imports and clients are already there
    assert "bridge.adapters.twilio.udm_out" in sys.modules
    assert "bridge.adapters.twilio.rest" in sys.modules
    assert bootstrap.ingest() is bootstrap.ingest()


def test_after_restore_rebuilds_clients_and_reseeds_the_prng(bridge: Bridge) -> None:
    # Given a primed environment whose PRNG state every restored copy would share
    snapstart.prime_ingest()
    before = bootstrap.ingest()
    random.seed(1)
    shared = random.random()
    random.seed(1)

    # When it is restored
    snapstart.after_restore()

    # Then it has its own clients and its own random sequence, and still delivers
    assert bootstrap.ingest() is not before
    assert random.random() != shared
    key, _ = bridge.live_call()
    assert bridge.post_event(new_event_body(key)).status == 200


def test_registering_outside_lambda_is_a_no_op() -> None:
    assert snapstart.register(lambda: None) is False
