"""Inbound authenticity: Standard Webhooks (https://www.standardwebhooks.com/)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from bridge.errors import Unauthenticated
from bridge.observability import logger


@dataclass(frozen=True)
class VerifiedDelivery:
    event_id: str
    timestamp: str


class StandardWebhookVerifier:
    """Accepts a delivery signed with any one of the configured secrets (key rotation).

    Fails closed: with no usable secret, nothing verifies.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        self._webhooks: list[Webhook] = []
        for position, secret in enumerate(secrets):
            try:
                self._webhooks.append(Webhook(secret))
            except Exception:  # noqa: BLE001 - the library raises bare Exceptions for bad secrets
                # Never log the secret itself; its position is enough to find it.
                logger.error("unusable webhook secret skipped", position=position)

    @property
    def usable(self) -> bool:
        return bool(self._webhooks)

    def verify(self, body: bytes, headers: Mapping[str, str]) -> VerifiedDelivery:
        if not self._webhooks:
            logger.error("no usable webhook secret is configured; rejecting every delivery")
            raise Unauthenticated("The bridge cannot verify signatures right now.")
        wanted = {name: headers.get(name, "") for name in ("webhook-id", "webhook-timestamp", "webhook-signature")}
        if not all(wanted.values()):
            raise Unauthenticated("The webhook-id, webhook-timestamp and webhook-signature headers are required.")
        failure = "No signature matched."
        for webhook in self._webhooks:
            try:
                webhook.verify(body, wanted, json_parse=False)
            except WebhookVerificationError as error:
                failure = _describe(error)
            except (ValueError, TypeError):
                # The library raises plain ValueErrors for malformed signatures and non-UTF-8 bodies.
                failure = "The webhook-signature header is malformed."
            else:
                return VerifiedDelivery(event_id=wanted["webhook-id"], timestamp=wanted["webhook-timestamp"])
        raise Unauthenticated(failure)


def _describe(error: WebhookVerificationError) -> str:
    message = str(error)
    if "timestamp" in message.lower() or "Invalid Signature Headers" in message:
        return "The webhook-timestamp is invalid or outside the 5 minute tolerance."
    return "No signature matched."


def parse_secret_list(raw: str) -> Sequence[str]:
    """A `whsec_...` string, or a JSON list of them (several are valid during a rotation)."""
    text = raw.strip()
    if text.startswith("["):
        try:
            values = json.loads(text)
        except ValueError:
            return ()
        return tuple(value for value in values if isinstance(value, str) and value)
    return (text,) if text else ()
