"""Call messages out: where they may go, and the forward retry rules, on the fakes of the ports."""

from __future__ import annotations

import pytest

from bridge.domain.call_message import CallMessage
from bridge.domain.errors import ConfigurationError, ForwardRefused
from bridge.domain.retry import RetryPolicy, Transient
from bridge.usecases.call_message_out import CallMessageOut, Forwarder, check_forward_url
from unit.fakes import FakeLedger, ScriptedWebhookSender, deadline

SID = "KX" + "a" * 32
CALL = "CA" + "b" * 32
FAST = RetryPolicy(max_attempts=3, attempt_timeout=1.0, base_delay=0.001, max_delay=0.002, min_attempt=0.01)


def message() -> CallMessage:
    return CallMessage(SID, CALL, "identity:alice", "application/json", '{"verified":true}', 1, 1_800_000_000.25)


def forward(sender: ScriptedWebhookSender, ledger: FakeLedger) -> str:
    return CallMessageOut(Forwarder(sender, FAST), ledger).forward(message().to_json(), deadline()).outcome


@pytest.mark.parametrize("url", ["http://example.com/hook", "ftp://example.com", "https://", "http://10.0.0.1/x"])
def test_only_https_or_loopback_http_is_forwarded_to(url: str) -> None:
    with pytest.raises(ConfigurationError):
        check_forward_url(url)


def test_https_and_loopback_http_are_allowed() -> None:
    assert check_forward_url("https://crm.example.com/hooks")
    assert check_forward_url("http://127.0.0.1:4020/hooks")


def test_transient_failures_are_retried_with_the_same_webhook_id_and_body() -> None:
    sender, ledger = ScriptedWebhookSender([Transient("503"), Transient("timeout"), 200]), FakeLedger()
    outcome = forward(sender, ledger)
    assert outcome == "forwarded"
    assert len(sender.sent) == 3
    assert len(set(sender.sent)) == 1
    assert ledger.entries == {}


def test_after_the_last_attempt_the_message_is_ledgered_as_forward_failed() -> None:
    sender, ledger = ScriptedWebhookSender([Transient("503")] * 3), FakeLedger()
    outcome = forward(sender, ledger)
    assert outcome == "forward_failed"
    [entry] = ledger.entries.values()
    assert (entry.event_key, entry.reason, entry.attempts) == (f"call:{SID}", "forward_failed", 3)
    assert entry.content == message().webhook_body()


def test_a_refusal_is_not_retried() -> None:
    sender, ledger = ScriptedWebhookSender([ForwardRefused(400)]), FakeLedger()
    forward(sender, ledger)
    assert len(sender.sent) == 1
    assert "400" in ledger.entries[f"call:{SID}"].detail


def test_retry_after_longer_than_the_deadline_is_waited_out_to_the_deadline_then_tried_again() -> None:
    # Given a receiver that asks for 100,000 s, then takes the message (the fake's deadline: 30 s)
    sender, ledger = ScriptedWebhookSender([Transient("429", retry_after=100_000)]), FakeLedger()
    slept: list[float] = []
    forwarder = Forwarder(sender, FAST, sleep=slept.append)

    # When it is forwarded
    result = CallMessageOut(forwarder, ledger).forward(message().to_json(), deadline())

    # Then the wait is cut to the budget, the retry delivers it, and nothing is ledgered
    assert result.outcome == "forwarded"
    assert len(sender.sent) == 2
    assert slept == [pytest.approx(30 - FAST.min_attempt)]
    assert ledger.entries == {}


def test_retry_after_longer_than_the_deadline_that_fails_again_ends_in_the_ledger() -> None:
    sender = ScriptedWebhookSender([Transient("429", retry_after=60)] * 2)
    ledger = FakeLedger()
    CallMessageOut(Forwarder(sender, FAST, sleep=lambda _: None), ledger).forward(message().to_json(), deadline(2))
    assert len(sender.sent) == 2
    assert ledger.entries[f"call:{SID}"].reason == "forward_failed"


def test_without_a_forward_url_every_message_is_ledgered() -> None:
    ledger = FakeLedger()
    result = CallMessageOut(None, ledger).forward(message().to_json(), deadline())
    assert (result.outcome, result.attempts) == ("forward_failed", 0)
    assert ledger.entries[f"call:{SID}"].detail == "FORWARD_URL is not configured"
