"""How Twilio's answers are classified: which are retried, which mean the call is gone."""

from __future__ import annotations

import pytest
from twilio.base.exceptions import TwilioRestException

from bridge.adapters.twilio.rest import _classify
from bridge.domain.errors import CallNotActive, TwilioCredentialsRejected, TwilioRejected
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
