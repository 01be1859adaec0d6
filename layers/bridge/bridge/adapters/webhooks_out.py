"""Standard Webhooks out: the WebhookSender port over requests, signed with the standardwebhooks package.

The secret (ForwardSecretArn) is a `whsec_…` string, or a JSON list of them while it rotates; the
first one signs, so receivers can accept old and new while they switch.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import requests
from standardwebhooks.webhooks import Webhook

from bridge.domain.errors import ConfigurationError, ForwardRefused
from bridge.domain.retry import Transient, retry_after_seconds

USER_AGENT = "udm-bridge-forwarder/1"
# The request itself is wrong (the URL, a header), not the network: no retry can fix it.
_UNSENDABLE = (
    requests.exceptions.InvalidHeader,
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.URLRequired,
    requests.exceptions.InvalidJSONError,
)


def parse_forward_secrets(raw: str) -> tuple[str, ...]:
    text = raw.strip()
    values = json.loads(text) if text.startswith("[") else [text]
    if not values or not all(isinstance(value, str) and value for value in values):
        raise ConfigurationError("the forward secret must be a whsec_ string or a non-empty JSON list of them")
    return tuple(values)


class StandardWebhookSender:
    def __init__(self, url: str, secrets: Callable[[], Sequence[str]]) -> None:
        self._url = url
        self._secrets = secrets
        # One pooled session per container: keep-alive to the receiver between messages.
        self._session = requests.Session()
        self._session.trust_env = False

    def send(self, webhook_id: str, body: str, timeout: float) -> int:
        now = datetime.now(UTC)
        signature = Webhook(self._secrets()[0]).sign(webhook_id, now, body)
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": webhook_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature,
        }
        try:
            response = self._session.post(
                self._url, data=body.encode("utf-8"), headers=headers, timeout=timeout, allow_redirects=False
            )
        except requests.Timeout:
            raise Transient("receiver timeout") from None
        except _UNSENDABLE as error:
            raise ForwardRefused(None, f"the request could not be made: {type(error).__name__}") from None
        except requests.RequestException as error:
            raise Transient(f"receiver connection failed: {type(error).__name__}") from None
        status = response.status_code
        if 200 <= status < 300:
            return status
        if status == 429 or status >= 500:
            raise Transient(
                f"receiver answered {status}", retry_after=retry_after_seconds(response.headers.get("Retry-After"))
            )
        raise ForwardRefused(status)
