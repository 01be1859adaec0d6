"""POST /twilio/messages: each message verified, complete and queued once per Sid, on the fakes of the ports."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from bridge.domain.call_message import CallMessage, Claim
from bridge.domain.errors import EventInProgress, InvalidCallback, StoreUnavailable
from bridge.domain.inbound import HttpRequest
from bridge.domain.outcomes import Outcome
from bridge.usecases.call_message_in import CallMessageIn, Received
from unit.fakes import Clock, FakeCallOwners, FakeMessageClaims, FakeQueue, FakeTwilioSignatures, deadline

SID = "KX" + "a" * 32
CALL = "CA" + "b" * 32
KEY = "identity:alice"
FORM = "application/x-www-form-urlencoded"


def params(**overrides: str) -> dict[str, str]:
    fields = {"CallSid": CALL, "Sid": SID, "ContentType": "application/json", "Content": '{"ok":true}'}
    return {**fields, "SequenceNumber": "1", **overrides}


def request(body: str | dict[str, str], content_type: str = FORM) -> HttpRequest:
    raw = body if isinstance(body, str) else urlencode(body)
    headers = {"content-type": content_type, "x-twilio-signature": "valid-signature"}
    query = "bodySHA256=" + "0" * 64 if content_type == "application/json" else ""
    return HttpRequest(raw.encode(), headers, host="bridge.example.com", raw_path="/twilio/messages", raw_query=query)


class Harness:
    def __init__(self) -> None:
        self.clock = Clock()
        self.owners = FakeCallOwners({CALL: KEY})
        self.claims = FakeMessageClaims(clock=self.clock)
        self.queue = FakeQueue()
        self.service = CallMessageIn(
            signatures=FakeTwilioSignatures(),
            owners=self.owners,
            claims=self.claims,
            queue=self.queue,
            public_base_url=None,
            clock=self.clock,
        )

    def handle(self, body: str | dict[str, str], content_type: str = FORM, seconds: float = 5.0) -> Received:
        return self.service.handle(request(body, content_type), deadline(seconds))

    @property
    def queued(self) -> list[CallMessage]:
        return [CallMessage.from_json(body) for body in self.queue.bodies]


def test_a_message_is_queued_once_and_every_replay_is_ignored_as_a_duplicate() -> None:
    harness = Harness()
    first = harness.handle(params())
    replays = [harness.handle(params()) for _ in range(2)]
    assert first.outcome is Outcome.QUEUED
    assert {(r.outcome, r.reason) for r in replays} == {(Outcome.IGNORED, "duplicate")}
    [message] = harness.queued
    assert (message.sid, message.key, message.content) == (SID, KEY, '{"ok":true}')


def test_a_replay_as_json_is_the_same_sid_and_a_duplicate() -> None:
    harness = Harness()
    harness.handle(params())
    replay = harness.handle(json.dumps(params()), "application/json")
    assert replay.reason == "duplicate"
    assert len(harness.queue.bodies) == 1


@pytest.mark.parametrize("missing", ["Content", "Sid", "CallSid"])
def test_a_message_without_a_field_it_needs_is_a_400_naming_it_and_claims_nothing(missing: str) -> None:
    harness = Harness()
    fields = {name: value for name, value in params().items() if name != missing}
    with pytest.raises(InvalidCallback, match=missing):
        harness.handle(fields)
    assert harness.queue.bodies == []
    assert harness.claims.claims == {}


def test_content_slid_into_another_name_is_refused_and_the_real_message_still_goes_through() -> None:
    # "Content"+"X" and "Conten"+"tX" sign alike; the rewritten one must not take the Sid first
    harness = Harness()
    slid = {name: value for name, value in params(Content="X").items() if name != "Content"} | {"Conten": "tX"}
    with pytest.raises(InvalidCallback, match="Content"):
        harness.handle(slid)
    assert harness.handle(params(Content="X")).outcome is Outcome.QUEUED
    assert [m.content for m in harness.queued] == ["X"]


def test_a_json_content_of_null_is_missing() -> None:
    with pytest.raises(InvalidCallback, match="Content"):
        Harness().handle(json.dumps({**params(), "Content": None}), "application/json")


def test_an_empty_content_is_a_message_as_signed() -> None:
    harness = Harness()
    assert harness.handle(params(Content="")).outcome is Outcome.QUEUED
    assert [m.content for m in harness.queued] == [""]


@pytest.mark.parametrize("name", ["CallSid", "Sid", "Content", "ContentType", "SequenceNumber"])
def test_a_field_given_twice_is_a_400_since_its_order_would_decide(name: str) -> None:
    harness = Harness()
    body = urlencode(params()) + "&" + urlencode({name: params()[name] + "x"})
    with pytest.raises(InvalidCallback, match=name):
        harness.handle(body)
    assert harness.queue.bodies == []


def test_fields_the_bridge_does_not_read_may_repeat() -> None:
    harness = Harness()
    body = urlencode(params()) + "&AccountSid=AC1&AccountSid=AC2"
    assert harness.handle(body).outcome is Outcome.QUEUED


def test_when_the_queue_fails_the_claim_is_released_so_the_senders_retry_gets_through() -> None:
    harness = Harness()
    harness.queue.failures.append(StoreUnavailable("The message queue is unavailable.", retry_after=1))
    with pytest.raises(StoreUnavailable):
        harness.handle(params())
    assert harness.claims.claims == {}
    assert harness.handle(params()).outcome is Outcome.QUEUED
    assert len(harness.queue.bodies) == 1


def test_a_claim_held_by_a_running_invocation_is_a_409_to_retry_and_queues_nothing() -> None:
    harness = Harness()
    harness.claims.claim(SID, "another invocation", lease_until=harness.clock() + 4)
    with pytest.raises(EventInProgress) as raised:
        harness.handle(params())
    assert raised.value.retry_after == 1
    assert harness.queue.bodies == []


def test_a_claim_whose_invocation_died_before_queueing_lapses_with_its_deadline() -> None:
    # Given an invocation that claimed the Sid with 3 s left, then died before the queue heard of it
    harness = Harness()
    harness.claims.claim(SID, "died", lease_until=harness.clock() + 3)

    # When the sender retries after that invocation's time ran out
    harness.clock.advance(3.5)

    # Then the retry claims it and queues it
    assert harness.handle(params()).outcome is Outcome.QUEUED
    assert len(harness.queue.bodies) == 1


def test_the_lease_ends_when_the_invocation_can_no_longer_run() -> None:
    harness = Harness()
    harness.handle(params(), seconds=4.5)
    [(state, _, lease_until)] = harness.claims.claims.values()
    assert state is Claim.QUEUED
    assert lease_until == harness.clock() + 4.5


def test_a_message_queued_but_not_marked_is_still_acknowledged() -> None:
    # The queue holds it: answering 5xx would only invite a retry that the lease then lets through
    harness = Harness()
    harness.claims.fail_marking = StoreUnavailable("The message claims store is unavailable.", retry_after=1)
    assert harness.handle(params()).outcome is Outcome.QUEUED
    assert len(harness.queue.bodies) == 1


def test_a_message_on_a_call_nobody_owns_is_ignored_and_claims_nothing() -> None:
    harness = Harness()
    received = harness.handle(params(CallSid="CA" + "c" * 32))
    assert (received.outcome, received.reason) == (
        Outcome.IGNORED,
        "no registered SDK leg owns this call",
    )
    assert harness.claims.claims == {}
