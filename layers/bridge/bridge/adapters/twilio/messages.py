"""User Defined Messages through the real twilio client: the MessageSender port."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import requests
from twilio.base.exceptions import TwilioException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from bridge.adapters.twilio.credentials import TwilioCredentials
from bridge.errors import CallNotActive, TwilioCredentialsRejected, TwilioRejected
from bridge.model import SentMessage
from bridge.retry import Transient

# Twilio's answers that mean "this call cannot take messages any more".
_CALL_GONE_CODES = {20404, 21220}


class AttemptHttpClient(TwilioHttpClient):
    """TwilioHttpClient with a per-attempt timeout and the last Retry-After, per thread.

    The twilio resource API passes neither through, and a client is shared by every request
    of the container, so both live in thread-local state around one call.
    """

    def __init__(self, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self._local = threading.local()

    def request(self, method: str, url: str, *args: Any, timeout: float | None = None, **kwargs: Any) -> Response:
        timeout = timeout or getattr(self._local, "timeout", None)
        self._local.retry_after = None
        response = super().request(method, url, *args, timeout=timeout, **kwargs)
        header = response.headers.get("Retry-After") if response.headers else None
        self._local.retry_after = _seconds(header)
        return response

    def set_attempt_timeout(self, timeout: float | None) -> None:
        self._local.timeout = timeout

    @property
    def last_retry_after(self) -> float | None:
        return getattr(self._local, "retry_after", None)


def _seconds(header: str | None) -> float | None:
    if not header:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        return None  # an HTTP-date: rare from Twilio, and the backoff covers it


class TwilioCalls:
    """The real twilio client on one call's resources: rebuilt only when the secret changes (rotation),
    otherwise one per container; each attempt with its own timeout, failures as domain errors."""

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

    def _attempt[T](self, call_sid: str, timeout: float, create: Callable[[Any], T]) -> T:
        """One attempt at `create(client.calls(call_sid))`, inside `timeout`."""
        call = self._twilio().calls(call_sid)
        self._http.set_attempt_timeout(timeout)
        try:
            return create(call)
        except TwilioException as error:
            raise _classify(error, call_sid, self._http.last_retry_after) from error
        except requests.Timeout:
            raise Transient("twilio timeout") from None
        except requests.RequestException as error:
            # Includes a connection dropped after Twilio accepted: the retry reuses the idempotency key.
            raise Transient(f"twilio connection failed: {type(error).__name__}") from None
        finally:
            self._http.set_attempt_timeout(None)


class TwilioMessageSender(TwilioCalls):
    def send(self, call_sid: str, content: str, idempotency_key: str, timeout: float) -> SentMessage:
        message = self._attempt(
            call_sid,
            timeout,
            lambda call: call.user_defined_messages.create(content=content, idempotency_key=idempotency_key),
        )
        return SentMessage(message_sid=str(message.sid), call_sid=call_sid)


def _classify(error: TwilioException, call_sid: str, retry_after: float | None) -> Exception:
    status = getattr(error, "status", None)
    code = getattr(error, "code", None)
    twilio_code = code if isinstance(code, int) else None
    if status == 429 or (isinstance(status, int) and status >= 500):
        return Transient(f"twilio answered {status}", retry_after=retry_after)
    if status in (401, 403):
        return TwilioCredentialsRejected(
            "Twilio rejected the bridge's credentials.", twilio_code=twilio_code, twilio_status=status
        )
    if status == 404 or twilio_code in _CALL_GONE_CODES:
        return CallNotActive("The call has ended or does not exist.", call_sid=call_sid, twilio_code=twilio_code)
    return TwilioRejected(
        f"Twilio refused the message (HTTP {status}, code {code}).", twilio_code=twilio_code, twilio_status=status
    )
