"""How Twilio's answers are classified: which are retried, which mean the call is gone."""

from __future__ import annotations

import pytest
from twilio.base.exceptions import TwilioRestException

from bridge.adapters.twilio.credentials import TwilioCredentials
from bridge.adapters.twilio.rest import _classify, http_client
from bridge.adapters.twilio.udm_out import TwilioUdmSender
from bridge.domain.errors import CallNotActive, ConfigurationError, TwilioCredentialsRejected, TwilioRejected
from bridge.domain.retry import Transient

CALL = "CA" + "0" * 32


def error(status: int, code: int | None = None) -> TwilioRestException:
    return TwilioRestException(status=status, uri="/udm", msg="x", code=code)


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_throttling_and_server_errors_are_transient(status: int) -> None:
    classified = _classify(error(status), CALL, retry_after=2.0)
    assert isinstance(classified, Transient)
    assert classified.retry_after == 2.0


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failures_are_credential_problems(status: int) -> None:
    assert isinstance(_classify(error(status, 20003), CALL, None), TwilioCredentialsRejected)


@pytest.mark.parametrize(("status", "code"), [(404, 20404), (400, 21220)])
def test_ended_or_unknown_calls_mean_the_mapping_is_stale(status: int, code: int) -> None:
    classified = _classify(error(status, code), CALL, None)
    assert isinstance(classified, CallNotActive)
    assert classified.call_sid == CALL


def test_other_refusals_are_permanent_and_keep_twilios_code() -> None:
    classified = _classify(error(400, 20001), CALL, None)
    assert isinstance(classified, TwilioRejected)
    assert classified.twilio_code == 20001


def sender(base_url: str) -> TwilioUdmSender:
    credentials = TwilioCredentials("AC" + "0" * 32, "token")
    return TwilioUdmSender(credentials=lambda: credentials, http_client=http_client(timeout=1), base_url=base_url)


@pytest.mark.parametrize(
    ("base_url", "error"),
    [("https://", "LocationValueError"), ("ftp://api.twilio.com", "URLSchemeUnknown")],
)
def test_a_request_that_cannot_be_made_is_a_configuration_error_not_retried(base_url: str, error: str) -> None:
    with pytest.raises(ConfigurationError, match=error):
        sender(base_url).send(CALL, "{}", "evt_1", timeout=1)


def test_a_refused_connection_is_transient() -> None:
    with pytest.raises(Transient, match="NewConnectionError"):
        sender("http://127.0.0.1:9").send(CALL, "{}", "evt_1", timeout=1)
