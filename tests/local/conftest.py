"""Fixtures of the Twilio emulator's own tests: one in-process emulator per test module, cleaned before
each test that uses it, the real twilio client pointed at it (auth token or API key), its control API,
and a receiver for the status callbacks it sends.

The session's local stack (tests/conftest.py) reaches this folder too; the subscription tests use it.
"""

from collections.abc import Iterator

import pytest
from emulator_client import ControlClient
from emulator_helpers import ACCOUNT_SID, API_KEY_SECRET, API_KEY_SID, AUTH_TOKEN, CallbackReceiver, _twilio_client
from twilio.rest import Client

from local.twilio_emulator import Account, TwilioEmulator


@pytest.fixture(scope="module")
def emulator() -> Iterator[TwilioEmulator]:
    emu = TwilioEmulator([Account(ACCOUNT_SID, AUTH_TOKEN, API_KEY_SID, API_KEY_SECRET)]).start()
    yield emu
    emu.stop()


@pytest.fixture(autouse=True)
def _fresh_state(request: pytest.FixtureRequest) -> None:
    # Only tests that use this module's emulator (directly or through client, control...) start one.
    if "emulator" in request.fixturenames:
        request.getfixturevalue("emulator").reset()


@pytest.fixture
def client(emulator: TwilioEmulator) -> Client:
    return _twilio_client(emulator, ACCOUNT_SID, AUTH_TOKEN)


@pytest.fixture
def api_key_client(emulator: TwilioEmulator) -> Client:
    return _twilio_client(emulator, API_KEY_SID, API_KEY_SECRET, ACCOUNT_SID)


@pytest.fixture
def control(emulator: TwilioEmulator) -> ControlClient:
    return ControlClient(emulator.base_url)


@pytest.fixture(scope="module")
def receiver_server() -> Iterator[CallbackReceiver]:
    server = CallbackReceiver().start()
    yield server
    server.stop()


@pytest.fixture
def receiver(receiver_server: CallbackReceiver) -> CallbackReceiver:
    receiver_server.clear()
    return receiver_server
