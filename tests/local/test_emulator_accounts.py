"""Accounts and credentials: the auth token or an API key of the account in the URL, Twilio's 401
otherwise, and a call seen only by the account that owns it."""

import pytest
import requests
from emulator_helpers import (
    ACCOUNT_SID,
    API_KEY_SECRET,
    API_KEY_SID,
    AUTH_TOKEN,
    KX_SID,
    OTHER_ACCOUNT_SID,
    OTHER_AUTH_TOKEN,
    _post_raw,
    _send_udm,
    _twilio_client,
    _udm_url,
)
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from local.twilio_emulator import Account, TwilioEmulator

# -- authentication -----------------------------------------------------------------------------------


def test_udm_sent_with_api_key_credentials_is_created(
    emulator: TwilioEmulator,
    api_key_client: Client,
) -> None:
    # Given an in-progress call
    call = emulator.create_call(ACCOUNT_SID)

    # When the client authenticates with an API key + secret for that account
    message = _send_udm(api_key_client, call["sid"])

    # Then the UDM is accepted for the account in the URL
    assert KX_SID.match(message.sid)
    assert message.account_sid == ACCOUNT_SID


def test_wrong_auth_token_is_rejected_with_401_20003(emulator: TwilioEmulator) -> None:
    # Given an in-progress call and a client with a wrong auth token
    call = emulator.create_call(ACCOUNT_SID)
    bad_client = _twilio_client(emulator, ACCOUNT_SID, "not-the-token")

    # When it sends a UDM
    with pytest.raises(TwilioRestException) as excinfo:
        _send_udm(bad_client, call["sid"])

    # Then Twilio's authentication error comes back and nothing is recorded
    assert (excinfo.value.status, excinfo.value.code) == (401, 20003)
    assert emulator.messages() == []


def test_missing_credentials_get_401_with_basic_challenge(emulator: TwilioEmulator) -> None:
    # Given an in-progress call
    call = emulator.create_call(ACCOUNT_SID)

    # When a UDM is posted without an Authorization header
    response = _post_raw(emulator, call["sid"], {"Content": "{}"}, auth=None)

    # Then the response is Twilio's 401 with a Basic challenge
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="Twilio API"'
    assert response.json() == {
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }


def test_credentials_of_another_account_are_rejected_with_401() -> None:
    # Given an emulator with two accounts and a call belonging to the second one
    accounts = [Account(ACCOUNT_SID, AUTH_TOKEN), Account(OTHER_ACCOUNT_SID, OTHER_AUTH_TOKEN)]
    with TwilioEmulator(accounts).start() as emu:
        call = emu.create_call(OTHER_ACCOUNT_SID)

        # When the first account's valid credentials are used on the second account's URL
        response = requests.post(
            _udm_url(emu, call["sid"], account_sid=OTHER_ACCOUNT_SID),
            data={"Content": "{}"},
            auth=(ACCOUNT_SID, AUTH_TOKEN),
            timeout=10,
        )

        # Then the request is not authenticated for that account
        assert response.status_code == 401
        assert response.json()["code"] == 20003
        assert emu.messages() == []


# -- accounts -----------------------------------------------------------------------------------------


def test_call_belonging_to_another_account_is_404() -> None:
    # Given an emulator with two accounts and a call belonging to the second one
    accounts = [Account(ACCOUNT_SID, AUTH_TOKEN), Account(OTHER_ACCOUNT_SID, OTHER_AUTH_TOKEN)]
    with TwilioEmulator(accounts).start() as emu:
        call = emu.create_call(OTHER_ACCOUNT_SID)
        first_account_client = _twilio_client(emu, ACCOUNT_SID, AUTH_TOKEN)

        # When the first account sends a UDM to that call under its own account URL
        with pytest.raises(TwilioRestException) as excinfo:
            _send_udm(first_account_client, call["sid"])

        # Then the call is not found for that account
        assert (excinfo.value.status, excinfo.value.code) == (404, 20404)


def test_malformed_account_sid_is_404(emulator: TwilioEmulator) -> None:
    # Given a client whose account SID in the URL is malformed, using otherwise valid API key credentials
    call = emulator.create_call(ACCOUNT_SID)
    malformed_client = _twilio_client(emulator, API_KEY_SID, API_KEY_SECRET, "AC-not-a-sid")

    # When it sends a UDM
    with pytest.raises(TwilioRestException) as excinfo:
        _send_udm(malformed_client, call["sid"])

    # Then it is not found
    assert (excinfo.value.status, excinfo.value.code) == (404, 20404)


def test_emulator_rejects_malformed_account_sid() -> None:
    # Given an account SID that does not match ^AC[0-9a-fA-F]{32}$
    # When an Account is built with it
    # Then construction fails
    with pytest.raises(ValueError, match="account_sid"):
        Account("AC123", "token")
