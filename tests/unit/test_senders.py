"""The one sender-side signing implementation agrees with the standardwebhooks package, and the
local stack, the signing helper, the test helpers and the bench all sign with it."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook

from bench import child
from local import senders

BODY = '{"type":"t","timestamp":"2026-11-28T10:00:00Z","to":"k","data":{"name":"Zoë"}}'


@pytest.mark.parametrize(
    "secret", [senders.new_webhook_secret() for _ in range(3)] + ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]
)
def test_standard_webhooks_signature_is_the_packages(secret: str) -> None:
    moment = int(time.time())
    ours = senders.standard_webhooks_signature(secret, "evt_1", moment, BODY)
    assert ours == Webhook(secret).sign("evt_1", datetime.fromtimestamp(moment, tz=UTC), BODY)
    assert senders.standard_webhooks_signature(secret, "evt_1", moment, BODY.encode()) == ours
    assert child.sign(secret, "evt_1", moment, BODY) == ours


def test_standard_webhooks_headers_verify_with_the_package() -> None:
    secret = senders.new_webhook_secret()
    headers = senders.standard_webhooks_headers(BODY, secret, event_id="evt_2")
    assert Webhook(secret).verify(BODY, headers) == {
        "type": "t",
        "timestamp": "2026-11-28T10:00:00Z",
        "to": "k",
        "data": {"name": "Zoë"},
    }
    assert headers["webhook-id"] == "evt_2"
    assert headers["content-type"] == "application/json"


def test_a_new_event_id_and_the_current_time_unless_given() -> None:
    first, second = (senders.standard_webhooks_headers(BODY, senders.new_webhook_secret()) for _ in range(2))
    assert first["webhook-id"] != second["webhook-id"]
    assert first["webhook-id"].startswith("evt_")
    assert abs(int(first["webhook-timestamp"]) - time.time()) < 5
    stale = senders.standard_webhooks_headers(BODY, senders.new_webhook_secret(), timestamp=1_000_000_000.9)
    assert stale["webhook-timestamp"] == "1000000000"


def test_new_secrets_are_32_random_bytes() -> None:
    import base64

    secret = senders.new_webhook_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert secret != senders.new_webhook_secret()
