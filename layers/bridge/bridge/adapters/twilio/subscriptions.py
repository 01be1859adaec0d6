"""UserDefinedMessageSubscriptions through the real twilio client (the Subscriber port), and the
signature check of JSON message callbacks (the MessageSignatures port)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import requests
from twilio.base.exceptions import TwilioException
from twilio.request_validator import RequestValidator, get_signature_algorithm
from twilio.rest import Client

from bridge.adapters.twilio.credentials import TwilioCredentials
from bridge.adapters.twilio.messages import AttemptHttpClient, _classify
from bridge.errors import InvalidTwilioSignature
from bridge.observability import logger
from bridge.retry import Transient


class TwilioSubscriber:
    def __init__(
        self,
        credentials: Callable[[], TwilioCredentials],
        http_client: AttemptHttpClient,
        base_url: str | None = None,
    ) -> None:
        self._credentials = credentials
        self._http = http_client
        self._base_url = base_url
        self._client: tuple[TwilioCredentials, Client] | None = None
        self._lock = threading.Lock()

    def _twilio(self) -> Client:
        credentials = self._credentials()
        with self._lock:
            if self._client is None or self._client[0] != credentials:
                client = Client(
                    username=credentials.username,
                    password=credentials.password,
                    account_sid=credentials.account_sid,
                    http_client=self._http,
                )
                if self._base_url:
                    client.api.base_url = self._base_url
                self._client = (credentials, client)
            return self._client[1]

    def subscribe(self, call_sid: str, callback_url: str, idempotency_key: str, timeout: float) -> str:
        client = self._twilio()
        self._http.set_attempt_timeout(timeout)
        try:
            subscription = client.calls(call_sid).user_defined_message_subscriptions.create(
                callback=callback_url, method="POST", idempotency_key=idempotency_key
            )
        except TwilioException as error:
            raise _classify(error, call_sid, self._http.last_retry_after) from error
        except requests.Timeout:
            raise Transient("twilio timeout") from None
        except requests.RequestException as error:
            raise Transient(f"twilio connection failed: {type(error).__name__}") from None
        finally:
            self._http.set_attempt_timeout(None)
        return str(subscription.sid)


class TwilioMessageSignatures:
    def __init__(self, auth_token: Callable[[], str | None]) -> None:
        self._auth_token = auth_token

    def verify_json(self, url: str, body: str, signature: str, settings: str | None) -> None:
        token = self._auth_token()
        if not token:
            logger.error("the Twilio secret has no auth_token; message callbacks cannot be verified")
            raise InvalidTwilioSignature("The bridge cannot verify Twilio signatures right now.")
        if not RequestValidator(token).validate(url, body, signature, algorithm=get_signature_algorithm(settings)):
            logger.warning("twilio signature mismatch", url=url)
            raise InvalidTwilioSignature("The X-Twilio-Signature does not match.")
