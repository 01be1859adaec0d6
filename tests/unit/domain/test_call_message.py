"""A message from the call, as a value: the webhook body it is forwarded as."""

from __future__ import annotations

import json

from bridge.domain.call_message import CallMessage

SID = "KX" + "a" * 32
CALL = "CA" + "b" * 32


def message(content: str = '{"verified":true}') -> CallMessage:
    return CallMessage(SID, CALL, "identity:alice", "application/json", content, 1, 1_800_000_000.25)


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
