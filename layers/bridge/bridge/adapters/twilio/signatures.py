"""X-Twilio-Signature checked with twilio's RequestValidator: the TwilioSignatures port, for status
callbacks, call messages and Twilio's own webhooks as a source (TaskRouter, Studio)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from twilio.request_validator import RequestValidator, get_signature_algorithm

from bridge.domain.errors import InvalidTwilioSignature
from bridge.observability import logger

if TYPE_CHECKING:
    from bridge.domain.inbound import FormParams


class TwilioRequestSignatures:
    """Accepts a request signed with any of the auth tokens (primary and secondary, during a rotation)."""

    def __init__(self, auth_tokens: Callable[[], Sequence[str]]) -> None:
        self._auth_tokens = auth_tokens

    def verify(self, url: str, signed: FormParams | str, signature: str, settings: str | None) -> None:
        tokens = [token for token in self._auth_tokens() if token]
        if not tokens:
            # Fails closed: without the token no callback can be trusted.
            logger.error("no Twilio auth token is configured; Twilio's requests cannot be verified")
            raise InvalidTwilioSignature("The bridge cannot verify Twilio signatures right now.")
        algorithm = get_signature_algorithm(settings)
        if not any(RequestValidator(token).validate(url, signed, signature, algorithm=algorithm) for token in tokens):
            logger.warning("twilio signature mismatch", url=url)
            raise InvalidTwilioSignature("The X-Twilio-Signature does not match.")
