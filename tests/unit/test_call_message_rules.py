"""Messages from the call, as pure logic: the webhook body, the forward retry rules, one subscription per leg."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from bridge.call_messages import CallMessage, subscription_key
from bridge.errors import CallNotActive, ConfigurationError
from bridge.forward import Forwarder, ForwardRefused, ForwardService, check_forward_url
from bridge.model import CallState, LedgerEntry
from bridge.retry import Deadline, RetryPolicy, Transient
from bridge.subscribe import SubscribeService

SID = "KX" + "a" * 32
CALL = "CA" + "b" * 32
FAST = RetryPolicy(max_attempts=3, attempt_timeout=1.0, base_delay=0.001, max_delay=0.002, min_attempt=0.01)


def message(content: str = '{"verified":true}') -> CallMessage:
    return CallMessage(SID, CALL, "identity:alice", "application/json", content, 1, 1_800_000_000.25)


def deadline() -> Deadline:
    return Deadline(lambda: 30_000)


def test_the_webhook_body_is_the_documented_one_and_stable() -> None:
    body = json.loads(message().webhook_body())
    assert body == {
        "type": "call.message",
        "timestamp": "2027-01-15T08:00:00.250Z",
        "from": "identity:alice",
        "call_sid": CALL,
        "data": {"verified": True},
    }
    assert message().webhook_body() == message().webhook_body()
    assert json.loads(message("refund approved").webhook_body())["data"] == "refund approved"
    assert CallMessage.from_json(message().to_json()) == message()


@pytest.mark.parametrize("url", ["http://example.com/hook", "ftp://example.com", "https://", "http://10.0.0.1/x"])
def test_only_https_or_loopback_http_is_forwarded_to(url: str) -> None:
    with pytest.raises(ConfigurationError):
        check_forward_url(url)


def test_https_and_loopback_http_are_allowed() -> None:
    assert check_forward_url("https://crm.example.com/hooks")
    assert check_forward_url("http://127.0.0.1:4020/hooks")


@dataclass
class Sender:
    answers: list[Any]
    seen: list[tuple[str, str]] = field(default_factory=list)

    def send(self, webhook_id: str, body: str, timeout: float) -> int:
        self.seen.append((webhook_id, body))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return int(answer)


@dataclass
class Ledger:
    entries: list[LedgerEntry] = field(default_factory=list)

    def record(self, entry: LedgerEntry) -> None:
        self.entries.append(entry)


def test_transient_failures_are_retried_with_the_same_webhook_id_and_body() -> None:
    sender, ledger = Sender([Transient("503"), Transient("timeout"), 200]), Ledger()
    outcome = ForwardService(Forwarder(sender, FAST), ledger).forward(message().to_json(), deadline())  # type: ignore[arg-type]
    assert outcome == "forwarded"
    assert len(sender.seen) == 3
    assert len(set(sender.seen)) == 1
    assert ledger.entries == []


def test_after_the_last_attempt_the_message_is_ledgered_as_forward_failed() -> None:
    sender, ledger = Sender([Transient("503")] * 3), Ledger()
    outcome = ForwardService(Forwarder(sender, FAST), ledger).forward(message().to_json(), deadline())  # type: ignore[arg-type]
    assert outcome == "forward_failed"
    [entry] = ledger.entries
    assert (entry.event_key, entry.reason, entry.attempts) == (f"call:{SID}", "forward_failed", 3)
    assert entry.content == message().webhook_body()


def test_a_refusal_is_not_retried() -> None:
    sender, ledger = Sender([ForwardRefused(400)]), Ledger()
    ForwardService(Forwarder(sender, FAST), ledger).forward(message().to_json(), deadline())  # type: ignore[arg-type]
    assert len(sender.seen) == 1
    assert "400" in ledger.entries[0].detail


def test_retry_after_longer_than_the_deadline_ends_in_the_ledger_not_past_it() -> None:
    sender, ledger = Sender([Transient("429", retry_after=60)]), Ledger()
    ForwardService(Forwarder(sender, FAST), ledger).forward(message().to_json(), deadline())  # type: ignore[arg-type]
    assert len(sender.seen) == 1
    assert ledger.entries[0].reason == "forward_failed"


@dataclass
class Owners:
    subscribed_calls: dict[str, str] = field(default_factory=dict)

    def claim(self, call_sid: str, key: str, expires_at: int) -> bool:
        return call_sid not in self.subscribed_calls

    def subscribed(self, call_sid: str, subscription_sid: str) -> None:
        self.subscribed_calls[call_sid] = subscription_sid


@dataclass
class Subscriber:
    answers: list[Any]
    keys: list[str] = field(default_factory=list)

    def subscribe(self, call_sid: str, callback_url: str, idempotency_key: str, timeout: float) -> str:
        self.keys.append(idempotency_key)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return str(answer)


def state() -> CallState:
    live = CallState()
    live.start(CALL, now=1e12 - 10, ttl_seconds=10**6)
    return live


def service(owners: Owners, subscriber: Subscriber | None) -> SubscribeService:
    return SubscribeService(
        owners=owners,  # type: ignore[arg-type]
        subscriber=subscriber,
        callback_url="https://bridge/twilio/messages",
        policy=FAST,
        clock=lambda: 1e12,
    )


def test_a_leg_is_subscribed_once_however_often_its_item_changes() -> None:
    owners, subscriber = Owners(), Subscriber([Transient("503"), "ZY1"])
    for _ in range(3):
        service(owners, subscriber).call_changed("identity:alice", state(), deadline())
    assert owners.subscribed_calls == {CALL: "ZY1"}
    assert subscriber.keys == [subscription_key(CALL)] * 2  # the retry keeps the IdempotencyKey


def test_a_call_that_is_not_active_is_left_for_its_next_change() -> None:
    owners = Owners()
    gone = CallNotActive("gone", call_sid=CALL, twilio_code=21220)
    service(owners, Subscriber([gone])).call_changed("identity:alice", state(), deadline())
    assert owners.subscribed_calls == {}


def test_without_forwarding_nothing_subscribes() -> None:
    owners = Owners()
    assert service(owners, None).call_changed("identity:alice", state(), deadline()) == []
    assert owners.subscribed_calls == {}


def test_the_forward_secret_is_one_whsec_string_or_a_rotation_list_whose_first_signs() -> None:
    from bridge.adapters.forwarding import parse_forward_secrets

    assert parse_forward_secrets("whsec_abc") == ("whsec_abc",)
    assert parse_forward_secrets('["whsec_new", "whsec_old"]') == ("whsec_new", "whsec_old")
    for broken in ("[]", '[""]', "[1]"):
        with pytest.raises(ConfigurationError):
            parse_forward_secrets(broken)
