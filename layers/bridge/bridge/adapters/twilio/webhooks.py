"""Twilio's own webhooks as a source (TaskRouter, Studio, Event Streams): `X-Twilio-Signature`,
verified with twilio's RequestValidator. A signature verifier of the `twilio` scheme.

Twilio signs the URL it called plus the sorted form fields (form-encoded callbacks), or the URL
alone with the body's SHA-256 in its `bodySHA256` query parameter (JSON callbacks). The source's
secrets are the account's auth tokens (primary and secondary, during a rotation).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from twilio.request_validator import RequestValidator, get_signature_algorithm

from bridge.errors import Unauthenticated
from bridge.observability import logger

if TYPE_CHECKING:
    from bridge.sources import Profile

FORM = "application/x-www-form-urlencoded"


class _Form(dict[str, list[str]]):
    """Every value of every field: RequestValidator signs them all (Flask's getall)."""

    def getall(self, name: str) -> list[str]:
        return self[name]


class TwilioWebhookVerifier:
    def __init__(self, auth_tokens: Sequence[str]) -> None:
        self._tokens = [token for token in auth_tokens if token]

    def verify(self, body: bytes, headers: Mapping[str, str], *, url: str = "", method: str = "POST") -> None:
        if not self._tokens:
            # Fails closed: without the auth token no callback can be trusted.
            logger.error("no Twilio auth token is configured for this source; rejecting every delivery")
            raise Unauthenticated("The bridge cannot verify signatures right now.")
        signature = headers.get("x-twilio-signature", "")
        if not signature:
            raise Unauthenticated("The X-Twilio-Signature header is required.")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise Unauthenticated("No signature matched.") from None
        params: _Form | str
        if headers.get("content-type", "").split(";", 1)[0].strip().lower() == FORM:
            params = _Form(parse_qs(text, keep_blank_values=True))
        elif "bodySHA256" in parse_qs(urlsplit(url).query):
            params = text
        else:
            raise Unauthenticated("A JSON callback must be signed with bodySHA256 in the URL Twilio calls.")
        algorithm = get_signature_algorithm(headers.get("x-twilio-webhooks-signature-settings"))
        validators = (RequestValidator(token) for token in self._tokens)
        if not any(validator.validate(url, params, signature, algorithm=algorithm) for validator in validators):
            raise Unauthenticated("No signature matched.")


def twilio_verifier(profile: Profile, auth_tokens: Sequence[str]) -> TwilioWebhookVerifier:
    """The `twilio` scheme's verifier factory, for IngestService."""
    return TwilioWebhookVerifier(auth_tokens)
