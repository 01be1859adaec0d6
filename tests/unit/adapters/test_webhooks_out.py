"""The forward secret as the Standard Webhooks sender reads it, and which failures it retries."""

from __future__ import annotations

import pytest

from bridge.adapters.webhooks_out import StandardWebhookSender, parse_forward_secrets
from bridge.domain.errors import ConfigurationError, ForwardRefused
from bridge.domain.retry import Transient
from local.senders import new_webhook_secret

SECRET = new_webhook_secret()


def test_the_forward_secret_is_one_whsec_string_or_a_rotation_list_whose_first_signs() -> None:
    assert parse_forward_secrets("whsec_abc") == ("whsec_abc",)
    assert parse_forward_secrets('["whsec_new", "whsec_old"]') == ("whsec_new", "whsec_old")
    for broken in ("[]", '[""]', "[1]"):
        with pytest.raises(ConfigurationError):
            parse_forward_secrets(broken)


@pytest.mark.parametrize(
    ("url", "webhook_id", "error"),
    [
        ("http://127.0.0.1:9/hook", "KX\n1", "InvalidHeader"),
        ("https:///hook", "KX1", "InvalidURL"),
        ("crm.example.com/hook", "KX1", "MissingSchema"),
        ("ftp://crm.example.com/hook", "KX1", "InvalidSchema"),
    ],
)
def test_a_request_that_cannot_be_made_is_refused_for_good_not_retried(url: str, webhook_id: str, error: str) -> None:
    # requests raises these before any connection: another attempt would raise them again
    with pytest.raises(ForwardRefused, match=error) as raised:
        StandardWebhookSender(url, lambda: [SECRET]).send(webhook_id, "{}", timeout=1)
    assert raised.value.status is None


def test_a_receiver_that_refuses_connections_is_transient() -> None:
    with pytest.raises(Transient, match="ConnectionError"):
        StandardWebhookSender("http://127.0.0.1:9/hook", lambda: [SECRET]).send("KX1", "{}", timeout=1)
