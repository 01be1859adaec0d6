"""The real twilio client on a call's resources (User Defined Messages, their subscriptions).

Requests go through the client's public `request` (its HTTP client, auth and headers) to the
resource's documented path, and errors through twilio's own `Version.exception`. The client's
resource tree (`client.api.v2010.account.calls(...)`) is never touched: importing it costs every
cold start ~100 ms (make bench), for two POSTs whose paths Twilio's API description fixes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

import requests
from twilio.base.exceptions import TwilioException
from twilio.base.version import Version
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from bridge.adapters.twilio.credentials import TwilioCredentials
from bridge.domain.errors import CallNotActive, ConfigurationError, TwilioCredentialsRejected, TwilioRejected
from bridge.domain.retry import Transient, retry_after_seconds

TWILIO_API = "https://api.twilio.com"
# Twilio's answers that mean "this call cannot take messages any more".
_CALL_GONE_CODES = {20404, 21220}
# The request itself is wrong (the API URL, a header), not the network: no retry can fix it.
_UNSENDABLE = (
    requests.exceptions.InvalidHeader,
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.URLRequired,
    requests.exceptions.InvalidJSONError,
)


def http_client(timeout: float) -> TwilioHttpClient:
    """One keep-alive session per container; each request passes its own attempt timeout."""
    return TwilioHttpClient(timeout=timeout)


class TwilioCalls:
    """The real twilio client on one call's resources: rebuilt only when the secret changes (rotation),
    otherwise one per container; each attempt with its own timeout, failures as domain errors."""

    def __init__(
        self,
        credentials: Callable[[], TwilioCredentials],
        http_client: TwilioHttpClient,
        base_url: str | None = None,
    ) -> None:
        self._credentials = credentials
        self._http = http_client
        self._base_url = (base_url or TWILIO_API).rstrip("/")
        self._client: tuple[TwilioCredentials, Client] | None = None
        self._lock = threading.Lock()

    def _twilio(self) -> tuple[TwilioCredentials, Client]:
        credentials = self._credentials()
        with self._lock:
            if self._client is None or self._client[0] != credentials:
                client = Client(
                    username=credentials.username,
                    password=credentials.password,
                    account_sid=credentials.account_sid,
                    http_client=self._http,
                )
                self._client = (credentials, client)
            return self._client

    def _create(self, call_sid: str, resource: str, data: Mapping[str, str], timeout: float) -> dict[str, Any]:
        """One attempt at POST .../Calls/{call_sid}/{resource}.json, inside `timeout`."""
        credentials, client = self._twilio()
        uri = f"{self._base_url}/2010-04-01/Accounts/{credentials.account_sid}/Calls/{call_sid}/{resource}.json"
        try:
            response = client.request("POST", uri, data=dict(data), timeout=timeout)
        except requests.Timeout:
            raise Transient("twilio timeout") from None
        except _UNSENDABLE as error:
            raise ConfigurationError(f"the request to Twilio could not be made ({type(error).__name__})") from None
        except requests.RequestException as error:
            # Includes a connection dropped after Twilio accepted: the retry reuses the idempotency key.
            raise Transient(f"twilio connection failed: {type(error).__name__}") from None
        if not 200 <= response.status_code < 300:
            refused = Version.exception("POST", uri, response, "Unable to create record")
            raise _classify(refused, call_sid, retry_after_seconds(response.headers.get("Retry-After"))) from refused
        try:
            created: dict[str, Any] = json.loads(response.text)
        except ValueError:
            raise Transient(f"twilio answered {response.status_code} with a body that is not JSON") from None
        return created


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
