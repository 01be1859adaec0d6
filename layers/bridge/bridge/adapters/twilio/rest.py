"""Twilio's REST API on a call's resources (User Defined Messages, their subscriptions).

One POST per attempt to the resource's documented path, with the form fields, Basic auth and headers
the twilio client sends, through urllib3: botocore's HTTP library, loaded before the first event
anyway. The twilio client's own HTTP layer is built on requests, whose import cost every cold start
~20 ms (make bench), and its resource tree ~100 ms more, for two POSTs whose paths Twilio's API
description fixes. A refusal becomes twilio's own exception, read from Twilio's error body by
twilio's `Version.exception`, imported the first time Twilio refuses.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlencode

import urllib3
from botocore.httpsession import get_cert_path
from twilio import __version__ as twilio_version
from urllib3.exceptions import HTTPError, LocationValueError, NewConnectionError, ProtocolError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from bridge.adapters.twilio.credentials import TwilioCredentials
from bridge.domain.errors import CallNotActive, ConfigurationError, TwilioCredentialsRejected, TwilioRejected
from bridge.domain.retry import Transient, retry_after_seconds

if TYPE_CHECKING:
    from twilio.base.exceptions import TwilioException

TWILIO_API = "https://api.twilio.com"
# Twilio's answers that mean "this call cannot take messages any more".
_CALL_GONE_CODES = {20404, 21220}
# What the twilio client puts on every request (twilio.base.client_base.ClientBase.request).
_HEADERS = {
    "User-Agent": f"twilio-python/{twilio_version} ({os.uname().sysname} {os.uname().machine}) "
    f"Python/{sys.version.split()[0]}",
    "X-Twilio-Client": f"python-{twilio_version}",
    "Accept-Charset": "utf-8",
    "Accept": "application/json",
    "Content-Type": "application/x-www-form-urlencoded",
}


class Answer(NamedTuple):
    """What Twilio answered: the shape of twilio's Response, which `Version.exception` reads."""

    status_code: int
    text: str
    headers: Mapping[str, str]


class TwilioHttp:
    """One keep-alive connection pool per container. An attempt makes no retry of its own (the retry
    budget is the use case's), follows no redirect, and waits at most `timeout` to connect and as
    long for each read, as the twilio client's requests session did."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        # certifi's bundle, as requests (and so the twilio client) and botocore verify with.
        self._pool = urllib3.PoolManager(retries=False, ca_certs=get_cert_path(True))

    def post(self, url: str, form: Mapping[str, str], username: str, password: str, timeout: float) -> Answer:
        headers = {**_HEADERS, **urllib3.make_headers(basic_auth=f"{username}:{password}")}
        response = self._pool.request(
            "POST",
            url,
            body=urlencode(form),
            headers=headers,
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
            redirect=False,
        )
        return Answer(response.status, response.data.decode("utf-8", errors="replace"), dict(response.headers))


def http_client(timeout: float) -> TwilioHttp:
    """One keep-alive pool per container; each request passes its own attempt timeout."""
    return TwilioHttp(timeout=timeout)


class TwilioCalls:
    """POSTs to one call's resources with the current credentials (a rotated secret is used at once);
    each attempt with its own timeout, failures as domain errors."""

    def __init__(
        self,
        credentials: Callable[[], TwilioCredentials],
        http_client: TwilioHttp,
        base_url: str | None = None,
    ) -> None:
        self._credentials = credentials
        self._http = http_client
        self._base_url = (base_url or TWILIO_API).rstrip("/")

    def _create(self, call_sid: str, resource: str, data: Mapping[str, str], timeout: float) -> dict[str, Any]:
        """One attempt at POST .../Calls/{call_sid}/{resource}.json, inside `timeout`."""
        credentials = self._credentials()
        uri = f"{self._base_url}/2010-04-01/Accounts/{credentials.account_sid}/Calls/{call_sid}/{resource}.json"
        try:
            answer = self._http.post(uri, data, credentials.username, credentials.password, timeout)
        except LocationValueError as error:
            # The request itself is wrong (the API URL), not the network: no retry can fix it.
            raise ConfigurationError(f"the request to Twilio could not be made ({type(error).__name__})") from None
        except (NewConnectionError, ProtocolError) as error:
            # Includes a connection dropped after Twilio accepted: the retry reuses the idempotency key.
            raise Transient(f"twilio connection failed: {type(error).__name__}") from None
        except Urllib3Timeout:
            raise Transient("twilio timeout") from None
        except HTTPError as error:
            raise Transient(f"twilio connection failed: {type(error).__name__}") from None
        if not 200 <= answer.status_code < 300:
            refused = _exception(uri, answer)
            raise _classify(refused, call_sid, retry_after_seconds(answer.headers.get("Retry-After"))) from refused
        try:
            created: dict[str, Any] = json.loads(answer.text)
        except ValueError:
            raise Transient(f"twilio answered {answer.status_code} with a body that is not JSON") from None
        return created


def _exception(uri: str, answer: Answer) -> TwilioException:
    """Twilio's refusal as the twilio client raises it."""
    from twilio.base.version import Version  # imports the client's HTTP layer: only once Twilio refuses

    refused: TwilioException = Version.exception("POST", uri, answer, "Unable to create record")
    return refused


def _classify(error: TwilioException, call_sid: str, retry_after: float | None) -> Exception:
    status = getattr(error, "status", None)
    code = getattr(error, "code", None)
    twilio_code = code if isinstance(code, int) else None
    if status == 429 or (isinstance(status, int) and status >= 500):
        return Transient(f"twilio answered {status}", retry_after=retry_after, throttled=status == 429)
    if status in (401, 403):
        return TwilioCredentialsRejected(
            "Twilio rejected the bridge's credentials.", twilio_code=twilio_code, twilio_status=status
        )
    if status == 404 or twilio_code in _CALL_GONE_CODES:
        return CallNotActive("The call has ended or does not exist.", call_sid=call_sid, twilio_code=twilio_code)
    return TwilioRejected(
        f"Twilio refused the message (HTTP {status}, code {code}).", twilio_code=twilio_code, twilio_status=status
    )
