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


def test_retry_after_longer_than_the_deadline_ends_in_the_ledger_not_past_it() -> None:
    sender, ledger = ScriptedWebhookSender([Transient("429", retry_after=60)]), FakeLedger()
    forward(sender, ledger)
    assert len(sender.sent) == 1
    assert ledger.entries[f"call:{SID}"].reason == "forward_failed"


def test_without_a_forward_url_every_message_is_ledgered() -> None:
    ledger = FakeLedger()
    result = CallMessageOut(None, ledger).forward(message().to_json(), deadline())
    assert (result.outcome, result.attempts) == ("forward_failed", 0)
    assert ledger.entries[f"call:{SID}"].detail == "FORWARD_URL is not configured"
