"""The subscribe use case: one subscription per SDK leg, on the fakes of its ports."""

from __future__ import annotations

from bridge.domain.call_message import subscription_key
from bridge.domain.calls import CallState
from bridge.domain.errors import CallNotActive, TwilioRejected
from bridge.domain.retry import RetryPolicy, Transient
from bridge.usecases.subscribe import Subscribe
from unit.fakes import FakeCallOwners, ScriptedSubscriber, deadline

CALL = "CA" + "b" * 32
FAST = RetryPolicy(max_attempts=3, attempt_timeout=1.0, base_delay=0.001, max_delay=0.002, min_attempt=0.01)


def state() -> CallState:
    live = CallState()
    live.start(CALL, now=1e12 - 10, ttl_seconds=10**6)
    return live


def service(owners: FakeCallOwners, subscriber: ScriptedSubscriber | None) -> Subscribe:
    return Subscribe(
        owners=owners,
        subscriber=subscriber,
        callback_url="https://bridge/twilio/messages",
        policy=FAST,
        clock=lambda: 1e12,
    )


def test_a_leg_is_subscribed_once_however_often_its_item_changes() -> None:
    owners, subscriber = FakeCallOwners(), ScriptedSubscriber([Transient("503")])
    for _ in range(3):
        service(owners, subscriber).call_changed("identity:alice", state(), deadline())
    assert owners.subscriptions == {CALL: "MR" + f"{1:032x}"}
    # the retry keeps the IdempotencyKey
    assert [key for _, _, key in subscriber.subscribed] == [subscription_key(CALL)]


def test_a_call_that_is_not_active_is_left_for_its_next_change() -> None:
    owners = FakeCallOwners()
    gone = CallNotActive("gone", call_sid=CALL, twilio_code=21220)
    happened = service(owners, ScriptedSubscriber([gone])).call_changed("identity:alice", state(), deadline())
    assert owners.subscriptions == {}
    assert [h.outcome for h in happened] == ["subscription_skipped"]


def test_a_refused_subscription_is_reported_and_not_retried() -> None:
    owners, subscriber = FakeCallOwners(), ScriptedSubscriber([TwilioRejected("no", twilio_code=21201)])
    [happened] = service(owners, subscriber).call_changed("identity:alice", state(), deadline())
    assert (happened.outcome, happened.get("twilio_code")) == ("subscription_failed", 21201)
    assert owners.subscriptions == {}


def test_without_forwarding_nothing_subscribes() -> None:
    owners = FakeCallOwners()
    assert service(owners, None).call_changed("identity:alice", state(), deadline()) == []
    assert owners.subscriptions == {}


def test_a_phone_key_leaves_a_leg_from_callbacks_to_the_sdk_users_own_key() -> None:
    # A callback registered this leg under identity:bob and under the caller's number: bob owns it
    owners, subscriber = FakeCallOwners(), ScriptedSubscriber([])
    from_callbacks = CallState()
    from_callbacks.start(CALL, now=1e12 - 10, ttl_seconds=10**6, leg=CALL, seq=1)
    assert service(owners, subscriber).call_changed("phone:+15551234567", from_callbacks, deadline()) == []
    service(owners, subscriber).call_changed("identity:bob", from_callbacks, deadline())
    assert owners.owner(CALL) == "identity:bob"


def test_a_phone_key_registered_through_the_calls_api_owns_its_call() -> None:
    owners = FakeCallOwners()
    service(owners, ScriptedSubscriber([])).call_changed("phone:+15551234567", state(), deadline())
    assert owners.owner(CALL) == "phone:+15551234567"
