"""The emulator's UserDefinedMessageSubscriptions, through the real twilio client, and the SDK user's
messages it sends to their Callback, signed as Twilio signs."""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from emulator_client import ControlClient
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from local.stack import LocalStack
from local.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.integration


def twilio(stack: LocalStack) -> Client:
    account = stack.credentials.account
    client = Client(account.account_sid, account.auth_token)
    client.api.base_url = stack.emulator.base_url
    return client


@pytest.fixture
def call(stack: LocalStack) -> dict[str, Any]:
    stack.emulator.reset()
    return stack.emulator.create_call(stack.credentials.account.account_sid, status="in-progress")


def test_create_is_replayed_for_the_same_idempotency_key_and_delete_removes_it(
    stack: LocalStack, call: dict[str, Any]
) -> None:
    calls = twilio(stack).calls(call["sid"])
    first = calls.user_defined_message_subscriptions.create(
        callback="https://example.com/twilio/messages", method="POST", idempotency_key="k1"
    )
    again = calls.user_defined_message_subscriptions.create(
        callback="https://example.com/twilio/messages", method="POST", idempotency_key="k1"
    )
    assert first.sid == again.sid
    assert first.sid.startswith("ZY")
    assert len(first.sid) == 34
    assert first.call_sid == call["sid"]
    assert len(stack.emulator.subscriptions.every()) == 1

    assert calls.user_defined_message_subscriptions(first.sid).delete() is True
    assert stack.emulator.subscriptions.every() == []
    with pytest.raises(TwilioRestException) as gone:
        calls.user_defined_message_subscriptions(first.sid).delete()
    assert gone.value.status == 404


@pytest.mark.parametrize("status", ["completed", "queued"])
def test_only_an_active_call_can_be_subscribed(stack: LocalStack, call: dict[str, Any], status: str) -> None:
    stack.emulator.set_call_status(call["sid"], status)
    with pytest.raises(TwilioRestException) as refused:
        twilio(stack).calls(call["sid"]).user_defined_message_subscriptions.create(callback="https://example.com/x")
    assert (refused.value.status, refused.value.code) == (400, 21220)


def test_wrong_credentials_are_a_401(stack: LocalStack, call: dict[str, Any]) -> None:
    client = Client(stack.credentials.account.account_sid, "not-the-token")
    client.api.base_url = stack.emulator.base_url
    with pytest.raises(TwilioRestException) as refused:
        client.calls(call["sid"]).user_defined_message_subscriptions.create(callback="https://example.com/x")
    assert refused.value.status == 401


@pytest.mark.parametrize("encoding", ["form", "json"])
def test_the_sdk_users_message_reaches_every_subscription_signed(
    stack: LocalStack, call: dict[str, Any], encoding: str
) -> None:
    # A plain recorder: what Twilio's request looks like on the wire
    recorder = WebhookReceiver("whsec_" + "A" * 43, path="/messages").start()
    try:
        twilio(stack).calls(call["sid"]).user_defined_message_subscriptions.create(callback=recorder.url)
        control = ControlClient(stack.emulator.base_url)
        sent = control.post(f"/calls/{call['sid']}/messages", {"content": {"verified": True}, "encoding": encoding})
        [delivery] = recorder.deliveries
        token = stack.credentials.account.auth_token
        url = sent["deliveries"][0]["url"]
        if encoding == "json":
            text = delivery.body.decode()
            assert parse_qs(urlsplit(url).query)["bodySHA256"] == [hashlib.sha256(delivery.body).hexdigest()]
            assert RequestValidator(token).validate(url, text, delivery.headers["x-twilio-signature"])
            fields = json.loads(text)
        else:
            fields = {k: v[0] for k, v in parse_qs(delivery.body.decode()).items()}
            assert RequestValidator(token).validate(url, fields, delivery.headers["x-twilio-signature"])
        assert fields["CallSid"] == call["sid"]
        assert fields["Sid"] == sent["sid"]
        assert fields["Sid"].startswith("KX")
        assert fields["ContentType"] == "application/json"
        assert fields["Content"] == '{"verified":true}'
        assert fields["SequenceNumber"] == "1"
        assert [s["sid"] for s in control.get("/sdk-messages")] == [sent["sid"]]
    finally:
        recorder.stop()


def test_no_message_is_sent_on_a_call_that_ended(stack: LocalStack, call: dict[str, Any]) -> None:
    stack.emulator.set_call_status(call["sid"], "completed")
    status, body = ControlClient(stack.emulator.base_url).call(
        "POST", f"/calls/{call['sid']}/messages", {"content": "hello"}
    )
    assert status == 400
    assert "active call" in body["error"]


def test_a_get_subscription_gets_the_fields_in_the_signed_query(stack: LocalStack, call: dict[str, Any]) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    seen: list[tuple[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append((self.path, self.headers["X-Twilio-Signature"]))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.handle_request, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/messages"
        twilio(stack).calls(call["sid"]).user_defined_message_subscriptions.create(callback=base, method="GET")
        sent = stack.emulator.subscriptions.send(stack.emulator, call["sid"], "hi", "text/plain", "form")
        [(path, signature)] = seen
        url = f"http://127.0.0.1:{server.server_address[1]}{path}"
        assert parse_qs(urlsplit(path).query)["Sid"] == [sent["sid"]]
        assert RequestValidator(stack.credentials.account.auth_token).validate(url, {}, signature)
    finally:
        server.server_close()
