"""The Twilio adapters POST without the twilio client's resource tree (~100 ms of imports every cold
start, make bench) or its requests-based HTTP layer (~20 ms), and still send what the client sends."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from local.stack import LocalStack

pytestmark = pytest.mark.integration

# A fresh interpreter: the test process has imported the tree for other tests.
SEND = """
import json, sys
from bridge.adapters.twilio.credentials import TwilioCredentials
from bridge.adapters.twilio.rest import http_client
from bridge.adapters.twilio.udm_out import TwilioUdmSender
from bridge.adapters.twilio.subscriptions import TwilioSubscriber

base_url, account_sid, auth_token, call_sid = sys.argv[1:]
credentials = TwilioCredentials(account_sid=account_sid, auth_token=auth_token)
sender = TwilioUdmSender(lambda: credentials, http_client(timeout=5), base_url)
subscriber = TwilioSubscriber(lambda: credentials, http_client(timeout=5), base_url)
sent = sender.send(call_sid, '{"hello":"world"}', "lean-key-1", timeout=5)
subscription = subscriber.subscribe(call_sid, "https://example.com/cb", "lean-key-2", timeout=5)
print(json.dumps({
    "message_sid": sent.message_sid,
    "subscription_sid": subscription,
    "tree": sorted(m for m in sys.modules if m.startswith("twilio.rest.")),
    "requests": "requests" in sys.modules,
}))
"""


def test_a_message_and_a_subscription_reach_the_call_without_the_resource_tree(stack: LocalStack) -> None:
    # Given a live call at the emulator
    account = stack.credentials.account
    call = stack.emulator.create_call(account.account_sid, status="in-progress")

    # When a fresh interpreter sends a message and subscribes through the adapters
    completed = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", SEND, stack.emulator.base_url, account.account_sid, account.auth_token, call["sid"]],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result = json.loads(completed.stdout.strip().splitlines()[-1])

    # Then both reached the call's resources as the tree would have sent them, and neither the
    # resource tree nor requests was imported
    sent = [m for m in stack.emulator.messages() if m["sid"] == result["message_sid"]]
    assert [(m["call_sid"], m["content"], m["idempotency_key"]) for m in sent] == [
        (call["sid"], '{"hello":"world"}', "lean-key-1")
    ]
    subscriptions = stack.emulator.subscriptions.every(call["sid"])
    assert [(s["sid"], s["callback"], s["idempotency_key"]) for s in subscriptions] == [
        (result["subscription_sid"], "https://example.com/cb", "lean-key-2")
    ]
    assert result["tree"] == []
    assert result["requests"] is False


def test_twilios_refusals_are_read_as_the_twilio_client_reads_them(stack: LocalStack) -> None:
    from bridge.adapters.twilio.credentials import TwilioCredentials
    from bridge.adapters.twilio.rest import http_client
    from bridge.adapters.twilio.udm_out import TwilioUdmSender
    from bridge.domain.errors import CallNotActive, TwilioCredentialsRejected
    from bridge.domain.retry import Transient

    # Given the sender, pointed at the emulator
    account = stack.credentials.account
    good = TwilioCredentials(account_sid=account.account_sid, auth_token=account.auth_token)
    wrong = TwilioCredentials(account_sid=account.account_sid, auth_token="not-the-token")
    call = stack.emulator.create_call(account.account_sid, status="in-progress")
    http = http_client(timeout=5)

    def send(credentials: TwilioCredentials, call_sid: str) -> None:
        TwilioUdmSender(lambda: credentials, http, stack.emulator.base_url).send(call_sid, "{}", "refused", 5)

    # When Twilio throttles, then refuses credentials, then knows no such call
    stack.emulator.add_fault({"status": 429, "retry_after": 3})
    with pytest.raises(Transient) as throttled:
        send(good, call["sid"])
    with pytest.raises(TwilioCredentialsRejected) as rejected:
        send(wrong, call["sid"])
    with pytest.raises(CallNotActive) as gone:
        send(good, "CA" + "0" * 32)

    # Then each carries what Twilio's error body and headers said
    assert throttled.value.retry_after == 3.0
    assert rejected.value.twilio_code == 20003
    assert gone.value.twilio_code == 20404
