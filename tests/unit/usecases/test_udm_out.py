"""One UDM to one call inside the retry budget, on the fakes of its ports."""

from __future__ import annotations

import pytest

from bridge.domain.errors import CallNotActive, TwilioRejected, TwilioUnavailable
from bridge.domain.retry import RetryPolicy, Transient
from bridge.usecases.udm_out import UdmOut
from unit.fakes import Clock, FakeRegistry, ScriptedUdmSender, deadline

KEY = "identity:alice"
CALL = "CA" + "1" * 32
NEWER = "CA" + "2" * 32
FAST = RetryPolicy(max_attempts=3, attempt_timeout=1.0, base_delay=0.001, max_delay=0.002, min_attempt=0.01)


def test_a_transient_failure_is_retried_with_the_same_idempotency_key() -> None:
    sender = ScriptedUdmSender([Transient("twilio answered 503")])
    sent = UdmOut(sender, FAST, FakeRegistry()).send(KEY, CALL, "{}", "evt_1", deadline())
    assert sent.call_sid == CALL
    assert sender.sent == [(CALL, "{}", "evt_1")]


def test_when_the_budget_runs_out_the_sender_hears_503_with_twilios_hint() -> None:
    sender = ScriptedUdmSender([Transient("429", retry_after=2.4)] * 3)
    with pytest.raises(TwilioUnavailable) as raised:
        UdmOut(sender, FAST, FakeRegistry()).send(KEY, CALL, "{}", "evt_1", deadline())
    assert raised.value.retry_after == 3
    assert sender.sent == []


def test_a_call_twilio_says_is_gone_is_ended_in_the_registry_and_a_newer_one_kept() -> None:
    # Given the key on two calls, the older of which Twilio says has ended
    clock = Clock()
    registry = FakeRegistry(clock=clock)
    registry.register(KEY, CALL, 3600)
    clock.advance(1)
    registry.register(KEY, NEWER, 3600)
    sender = ScriptedUdmSender([CallNotActive("gone", call_sid=CALL, twilio_code=21220)])

    # When a message to the older call is refused
    with pytest.raises(CallNotActive) as raised:
        UdmOut(sender, FAST, registry).send(KEY, CALL, "{}", "evt_1", deadline())

    # Then that mapping is removed, and only that one
    assert raised.value.mapping_removed is True
    assert [sid for sid, _ in registry.live_calls(KEY)] == [NEWER]


def test_a_mapping_already_ended_is_not_removed_twice() -> None:
    # Given a call whose end the status callback already recorded
    registry = FakeRegistry()
    registry.register(KEY, CALL, 3600)
    registry.ended(KEY, CALL)
    sender = ScriptedUdmSender([CallNotActive("gone", call_sid=CALL)])
    with pytest.raises(CallNotActive) as raised:
        UdmOut(sender, FAST, registry).send(KEY, CALL, "{}", "evt_1", deadline())
    assert raised.value.mapping_removed is False


def test_a_refusal_is_not_retried() -> None:
    sender = ScriptedUdmSender([TwilioRejected("too large", twilio_code=21617), Transient("never reached")])
    with pytest.raises(TwilioRejected):
        UdmOut(sender, FAST, FakeRegistry()).send(KEY, CALL, "{}", "evt_1", deadline())
    assert len(sender.script) == 1
