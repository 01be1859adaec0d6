"""The registry's state machine: which call wins, what a late or repeated callback may change."""

from __future__ import annotations

from bridge.domain.calls import CallState

NOW = 1_800_000_000.0
TTL = 3600


def test_newest_started_live_call_wins() -> None:
    state = CallState()
    state.start("CAold", now=NOW, ttl_seconds=TTL, started=NOW - 60)
    state.start("CAnew", now=NOW, ttl_seconds=TTL, started=NOW - 5)
    assert state.active(NOW) is not None
    assert state.active(NOW)[0] == "CAnew"  # type: ignore[index]


def test_older_live_call_takes_over_when_the_newest_ends() -> None:
    state = CallState()
    state.start("CAold", now=NOW, ttl_seconds=TTL, started=NOW - 60)
    state.start("CAnew", now=NOW, ttl_seconds=TTL, started=NOW - 5)
    state.finish("CAnew", now=NOW)
    assert state.active(NOW)[0] == "CAold"  # type: ignore[index]


def test_expired_calls_are_not_active() -> None:
    state = CallState()
    state.start("CAa", now=NOW, ttl_seconds=10)
    assert state.active(NOW + 11) is None


def test_a_finished_call_cannot_be_restarted_by_a_callback() -> None:
    state = CallState()
    state.start("CAa", now=NOW, ttl_seconds=TTL, leg="CAa", seq=1)
    assert state.finish("CAa", now=NOW)
    assert not state.start("CAa", now=NOW + 1, ttl_seconds=TTL, leg="CAa", seq=2)
    assert state.active(NOW + 1) is None


def test_an_explicit_registration_may_restart_a_finished_call() -> None:
    state = CallState()
    state.finish("CAa", now=NOW)
    assert state.start("CAa", now=NOW, ttl_seconds=TTL, explicit=True)
    assert state.active(NOW)[0] == "CAa"  # type: ignore[index]


def test_an_older_or_repeated_sequence_number_from_the_same_leg_changes_nothing() -> None:
    state = CallState()
    assert state.start("CAa", now=NOW, ttl_seconds=TTL, leg="CAa", seq=2)
    assert not state.start("CAa", now=NOW + 5, ttl_seconds=TTL, leg="CAa", seq=2)
    assert not state.start("CAa", now=NOW + 5, ttl_seconds=TTL, leg="CAa", seq=1)
    assert state.calls["CAa"].expires_at == int(NOW) + TTL


def test_a_newer_callback_refreshes_the_ttl_but_keeps_the_start() -> None:
    state = CallState()
    state.start("CAa", now=NOW, ttl_seconds=TTL, started=NOW - 30, leg="CAa", seq=1)
    assert state.start("CAa", now=NOW + 100, ttl_seconds=TTL, started=NOW + 90, leg="CAa", seq=2)
    assert state.calls["CAa"].started == NOW - 30
    assert state.calls["CAa"].expires_at == int(NOW + 100) + TTL


def test_finishing_twice_is_a_no_op() -> None:
    state = CallState()
    state.start("CAa", now=NOW, ttl_seconds=TTL)
    assert state.finish("CAa", now=NOW)
    assert not state.finish("CAa", now=NOW + 1)


def test_finishing_one_call_leaves_the_others() -> None:
    state = CallState()
    state.start("CAa", now=NOW, ttl_seconds=TTL)
    state.start("CAb", now=NOW, ttl_seconds=TTL)
    state.finish("CAa", now=NOW)
    assert set(state.calls) == {"CAb"}


def test_prune_drops_expired_calls_and_old_tombstones_only() -> None:
    state = CallState()
    state.start("CAlive", now=NOW, ttl_seconds=TTL)
    state.start("CAgone", now=NOW - 2 * TTL, ttl_seconds=TTL)
    state.finish("CArecent", now=NOW - 10)
    state.finish("CAancient", now=NOW - 10 * TTL)
    state.prune(NOW, tombstone_seconds=TTL)
    assert set(state.calls) == {"CAlive"}
    assert set(state.ended) == {"CArecent"}


def test_item_expiry_outlives_every_call_and_tombstone() -> None:
    state = CallState()
    state.start("CAa", now=NOW, ttl_seconds=TTL)
    state.finish("CAb", now=NOW)
    assert state.item_expiry(tombstone_seconds=2 * TTL) == int(NOW) + 2 * TTL
