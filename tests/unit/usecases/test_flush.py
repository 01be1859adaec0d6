"""Flushing parked events: in order, each once, each ending in one outcome; on the fakes of its ports."""

from __future__ import annotations

import pytest

from bridge.domain.calls import CallState
from bridge.domain.errors import CallNotActive, TwilioRejected, TwilioUnavailable
from bridge.domain.events import Event
from bridge.domain.outcomes import Outcome
from bridge.domain.retry import RetryPolicy, Transient
from bridge.usecases.flush import ParkedFlush
from bridge.usecases.udm_out import UdmOut
from unit.fakes import Clock, FakeLedger, FakeParkedStore, FakeRegistry, ScriptedUdmSender, deadline

KEY = "identity:alice"
CALL = "CA" + "1" * 32
FAST = RetryPolicy(max_attempts=2, attempt_timeout=1.0, base_delay=0.001, max_delay=0.002, min_attempt=0.01)


class World:
    def __init__(self, *script: Exception) -> None:
        self.clock = Clock()
        self.registry = FakeRegistry(clock=self.clock)
        self.store = FakeParkedStore(clock=self.clock)
        self.ledger = FakeLedger()
        self.sender = ScriptedUdmSender(list(script))
        delivery = UdmOut(self.sender, FAST, self.registry)
        self.waited: list[float] = []
        self.flush = ParkedFlush(
            self.store, self.registry, delivery, self.ledger, clock=self.clock, sleep=self.waited.append
        )

    def park(self, *ids: str, hold: int = 60, cause: str = "no_call") -> None:
        for event_id in ids:
            event = Event(id=event_id, type="t", timestamp=None, to=KEY, data={}, body={})
            self.store.park(event, f'{{"id":"{event_id}"}}', hold, recipient=KEY, cause=cause)

    def outcomes(self) -> list[tuple[Outcome, str]]:
        return [(item.outcome, item.get("event_key")) for item in self.flush.flush(KEY, deadline()).ended]


def test_parked_events_reach_the_call_in_arrival_order_each_once() -> None:
    world = World()
    world.park("e1", "e2", "e3")
    world.registry.register(KEY, CALL, 3600)
    assert world.outcomes() == [(Outcome.FLUSHED, "e1"), (Outcome.FLUSHED, "e2"), (Outcome.FLUSHED, "e3")]
    assert [key for _, _, key in world.sender.sent] == [f"{event}@{CALL}" for event in ("e1", "e2", "e3")]
    assert world.store.pending(KEY) == []
    assert world.outcomes() == []  # a second flush finds nothing to post again


def test_without_a_call_nothing_is_posted_and_the_events_wait() -> None:
    world = World()
    world.park("e1")
    result = world.flush.flush(KEY, deadline())
    assert (result.ended, result.blocked) == ([], True)
    assert len(world.store.pending(KEY)) == 1


def test_an_expired_event_goes_to_the_ledger_and_the_next_is_delivered() -> None:
    world = World()
    world.park("old", hold=1)
    world.park("new", hold=600)
    world.clock.advance(5)
    world.registry.register(KEY, CALL, 3600)
    assert world.outcomes() == [(Outcome.EXPIRED, "old"), (Outcome.FLUSHED, "new")]
    assert world.ledger.reasons == {"old": "expired"}
    assert world.ledger.entries["old"].detail == "no call registered before the hold ran out"


def test_an_event_twilio_throttled_past_its_hold_is_ledgered_as_such() -> None:
    world = World()
    world.registry.register(KEY, CALL, 3600)
    world.park("throttled", hold=1, cause="throttled")
    world.clock.advance(5)
    assert world.outcomes() == [(Outcome.EXPIRED, "throttled")]
    entry = world.ledger.entries["throttled"]
    assert (entry.reason, entry.detail) == ("expired", "twilio throttled the account until the hold ran out")
    assert world.sender.sent == []


def test_twilio_unavailable_releases_the_event_keeps_the_order_and_says_what_was_done() -> None:
    # Given two parked events: e1 goes through, every attempt at e2 fails
    world = World()
    world.park("e1", "e2")
    world.registry.register(KEY, CALL, 3600)
    world.sender.failing[f"e2@{CALL}"] = Transient("503")

    # When they are flushed, Then the sender hears 503 and the logs still learn e1 was delivered
    with pytest.raises(TwilioUnavailable) as raised:
        world.flush.flush(KEY, deadline())
    assert [h.get("event_key") for h in raised.value.happened] == ["e1"]
    [left] = world.store.pending(KEY)
    assert (left.event_id, left.state) == ("e2", "parked")


def test_a_call_that_ended_ledgers_the_head_event_and_holds_the_rest() -> None:
    world = World(CallNotActive("gone", call_sid=CALL, twilio_code=20404))
    world.park("e1", "e2")
    world.registry.register(KEY, CALL, 3600)
    assert world.outcomes() == [(Outcome.STALE_MAPPING_REMOVED, None), (Outcome.CALL_ENDED, "e1")]
    assert world.ledger.reasons == {"e1": "call_ended"}
    assert [e.event_id for e in world.store.pending(KEY)] == ["e2"]


def test_a_refused_event_is_ledgered_and_the_next_still_delivered() -> None:
    world = World(TwilioRejected("too large", twilio_code=21617))
    world.park("e1", "e2")
    world.registry.register(KEY, CALL, 3600)
    assert world.outcomes() == [(Outcome.TWILIO_REFUSED, "e1"), (Outcome.FLUSHED, "e2")]
    assert world.ledger.entries["e1"].twilio_code == 21617


def test_a_key_whose_calls_all_ended_is_not_flushed() -> None:
    world = World()
    world.park("e1")
    assert world.flush.call_changed(KEY, CallState(), deadline()).ended == []
    assert len(world.store.pending(KEY)) == 1


def test_a_throttled_event_is_not_tried_before_twilios_retry_after() -> None:
    # Given an event parked because Twilio asked for a 2 s pause
    world = World()
    event = Event(id="e1", type="t", timestamp=None, to=KEY, data={}, body={})
    world.store.park(event, "{}", 60, recipient=KEY, cause="throttled", not_before=world.clock() + 2)
    world.registry.register(KEY, CALL, 3600)

    # When it is flushed, Then the flusher waited the pause out before its one attempt
    assert world.outcomes() == [(Outcome.FLUSHED, "e1")]
    assert world.waited == [2.0]


def test_a_pause_longer_than_the_deadline_hands_the_event_back_for_later() -> None:
    world = World()
    event = Event(id="e1", type="t", timestamp=None, to=KEY, data={}, body={})
    world.store.park(event, "{}", 600, recipient=KEY, cause="throttled", not_before=world.clock() + 300)
    world.registry.register(KEY, CALL, 3600)
    with pytest.raises(TwilioUnavailable):
        world.flush.flush(KEY, deadline(30))
    [left] = world.store.pending(KEY)
    assert left.state == "parked"
    assert world.sender.sent == []


def test_a_pause_that_outlasts_the_hold_ledgers_the_event_instead_of_delivering_it_late() -> None:
    # Given an event whose hold ends 1 s from now, Twilio having asked for a 2 s pause
    world = World()
    flush = ParkedFlush(
        world.store,
        world.registry,
        UdmOut(world.sender, FAST, world.registry),
        world.ledger,
        clock=world.clock,
        sleep=world.clock.advance,
    )
    event = Event(id="e1", type="t", timestamp=None, to=KEY, data={}, body={})
    world.store.park(event, "{}", 1, recipient=KEY, cause="throttled", not_before=world.clock() + 2)
    world.registry.register(KEY, CALL, 3600)

    # When it is flushed, Then it waited the pause out, found its hold over, and ledgered it unsent
    assert [happening.outcome for happening in flush.flush(KEY, deadline()).ended] == [Outcome.EXPIRED]
    assert world.sender.sent == []
    assert world.ledger.entries["e1"].detail == "twilio throttled the account until the hold ran out"
    assert world.store.pending(KEY) == []


def test_an_event_with_less_hold_left_than_one_attempt_is_ledgered_not_tried() -> None:
    # Given an event whose hold ends in half a second, each attempt allowing 1 s
    world = World()
    world.park("short", hold=1)
    world.registry.register(KEY, CALL, 3600)
    world.clock.advance(0.5)

    # When it is flushed, Then no attempt Twilio might finish after the client gave up was started
    assert world.outcomes() == [(Outcome.EXPIRED, "short")]
    assert world.sender.sent == []
    assert world.store.pending(KEY) == []
