"""One UDM to one call inside the retry budget, on the fakes of its ports."""

from __future__ import annotations

import pytest

from bridge.domain.errors import CallNotActive, TwilioRejected, TwilioUnavailable
from bridge.domain.retry import Deadline, RetryPolicy, Transient
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


def test_after_a_429_callers_that_yield_send_nothing_until_its_retry_after_has_passed() -> None:
    # Given Twilio throttled one delivery, asking for 2 seconds
    clock = Clock()
    sender = ScriptedUdmSender([Transient("429", retry_after=2.0, throttled=True)])
    delivery = UdmOut(sender, FAST, FakeRegistry(), clock=clock)
    with pytest.raises(TwilioUnavailable):
        delivery.send(KEY, CALL, "{}", "evt_1", deadline(), yield_to_throttling=True)

    # When another event comes within the pause, Then it is not sent and hears how long is left
    clock.advance(0.5)
    with pytest.raises(TwilioUnavailable) as paused:
        delivery.send(KEY, CALL, "{}", "evt_2", deadline(), yield_to_throttling=True)
    assert paused.value.retry_after == 2  # 1.5 s left, in whole seconds
    assert sender.sent == []

    # And a caller that waits its turn (the flusher) still sends; once the pause is over, so does ingest
    delivery.send(KEY, CALL, "{}", "evt_3", deadline())
    clock.advance(1.6)
    delivery.send(KEY, CALL, "{}", "evt_2", deadline(), yield_to_throttling=True)
    assert [key for _, _, key in sender.sent] == ["evt_3", "evt_2"]


def test_a_failure_that_is_not_throttling_pauses_nothing() -> None:
    clock = Clock()
    sender = ScriptedUdmSender([Transient("twilio answered 503", retry_after=5.0)] * 3)
    delivery = UdmOut(sender, FAST, FakeRegistry(), clock=clock)
    with pytest.raises(TwilioUnavailable):
        delivery.send(KEY, CALL, "{}", "evt_1", deadline(), yield_to_throttling=True)
    delivery.send(KEY, CALL, "{}", "evt_2", deadline(), yield_to_throttling=True)
    assert [key for _, _, key in sender.sent] == ["evt_2"]


def test_whole_attempts_start_none_the_deadline_would_cut_short() -> None:
    sender = ScriptedUdmSender([])
    short = Deadline(lambda: 500, reserve=0.0)  # FAST allows 1 s an attempt; half a second is left
    with pytest.raises(TwilioUnavailable):
        UdmOut(sender, FAST, FakeRegistry()).send(KEY, CALL, "{}", "evt_1", short, whole_attempts=True)
    assert sender.sent == []
    UdmOut(sender, FAST, FakeRegistry()).send(KEY, CALL, "{}", "evt_1", short)
    assert [key for _, _, key in sender.sent] == ["evt_1"]
