"""Twilio's callbacks to the bridge verified with twilio's RequestValidator: the CallbackSignatures port
(form-encoded status callbacks and call messages) and the MessageSignatures port (JSON call messages)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from twilio.request_validator import RequestValidator, get_signature_algorithm

from bridge.errors import InvalidTwilioSignature
from bridge.observability import logger


class TwilioCallbackSignatures:
    def __init__(self, auth_token: Callable[[], str | None]) -> None:
        self._auth_token = auth_token

    def verify(self, url: str, params: Mapping[str, list[str]], signature: str, settings: str | None) -> None:
        self._check(url, params, signature, settings)

    def verify_json(self, url: str, body: str, signature: str, settings: str | None) -> None:
        """A JSON callback: Twilio signs the URL, whose bodySHA256 covers the body."""
        self._check(url, body, signature, settings)

    def _check(self, url: str, payload: Mapping[str, list[str]] | str, signature: str, settings: str | None) -> None:
        token = self._auth_token()
        if not token:
            # Fails closed: without the token no callback can be trusted.
            logger.error("the Twilio secret has no auth_token; Twilio's callbacks cannot be verified")
            raise InvalidTwilioSignature("The bridge cannot verify Twilio signatures right now.")
        algorithm = get_signature_algorithm(settings)
        if not RequestValidator(token).validate(url, payload, signature, algorithm=algorithm):
            logger.warning("twilio signature mismatch", url=url)
            raise InvalidTwilioSignature("The X-Twilio-Signature does not match.")
