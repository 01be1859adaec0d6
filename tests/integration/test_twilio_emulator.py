"""Integration tests for the local Twilio emulator, driven over real HTTP by the real twilio client."""

import email.utils
import http.client
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from emulator_client import ControlClient
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from local.twilio_emulator import Account, TwilioEmulator

ACCOUNT_SID = "AC" + "a" * 32
AUTH_TOKEN = "emulator-test-auth-token"
API_KEY_SID = "SK" + "b" * 32
API_KEY_SECRET = "emulator-test-api-key-secret"
OTHER_ACCOUNT_SID = "AC" + "c" * 32
OTHER_AUTH_TOKEN = "other-account-auth-token"

KX_SID = re.compile(r"^KX[0-9a-f]{32}$")
CA_SID = re.compile(r"^CA[0-9a-f]{32}$")
REPO_ROOT = Path(__file__).resolve().parents[2]


# -- fixtures & helpers -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def emulator() -> Iterator[TwilioEmulator]:
    emu = TwilioEmulator([Account(ACCOUNT_SID, AUTH_TOKEN, API_KEY_SID, API_KEY_SECRET)]).start()
    yield emu
    emu.stop()


@pytest.fixture(autouse=True)
def _fresh_state(emulator: TwilioEmulator) -> None:
    emulator.reset()


def _twilio_client(emulator: TwilioEmulator, *credentials: str) -> Client:
    client = Client(*credentials)
    # A TWILIO_EDGE/TWILIO_REGION in the environment would rewrite the host away from the emulator.
    client.edge = None
    client.region = None
    client.api.base_url = emulator.base_url
    return client


@pytest.fixture
def client(emulator: TwilioEmulator) -> Client:
    return _twilio_client(emulator, ACCOUNT_SID, AUTH_TOKEN)


@pytest.fixture
def api_key_client(emulator: TwilioEmulator) -> Client:
    return _twilio_client(emulator, API_KEY_SID, API_KEY_SECRET, ACCOUNT_SID)


@pytest.fixture
def control(emulator: TwilioEmulator) -> ControlClient:
    return ControlClient(emulator.base_url)


def _send_udm(client: Client, call_sid: str, payload: Any = None, idempotency_key: str | None = None) -> Any:
    content = json.dumps(payload if payload is not None else {"event": "test"})
    if idempotency_key is None:
        return client.calls(call_sid).user_defined_messages.create(content=content)
    udms = client.calls(call_sid).user_defined_messages
    return udms.create(content=content, idempotency_key=idempotency_key)


def _udm_url(emulator: TwilioEmulator, call_sid: str, account_sid: str = ACCOUNT_SID) -> str:
    return f"{emulator.base_url}/2010-04-01/Accounts/{account_sid}/Calls/{call_sid}/UserDefinedMessages.json"


def _post_raw(
    emulator: TwilioEmulator,
    call_sid: str,
    data: dict[str, str],
    auth: tuple[str, str] | None = (ACCOUNT_SID, AUTH_TOKEN),
) -> requests.Response:
    return requests.post(_udm_url(emulator, call_sid), data=data, auth=auth, timeout=10)


# -- success ------------------------------------------------------------------------------------------


def test_udm_sent_with_auth_token_is_created_with_twilio_shaped_resource(
    emulator: TwilioEmulator, client: Client
) -> None:
    # Given an in-progress call
    call = emulator.create_call(ACCOUNT_SID)

    # When the twilio client sends a UDM authenticated with the account's auth token
    message = _send_udm(client, call["sid"], {"event": "hello"})

    # Then the resource looks like Twilio's
    assert KX_SID.match(message.sid)
    assert message.account_sid == ACCOUNT_SID
    assert message.call_sid == call["sid"]
    assert isinstance(message.date_created, datetime)
    assert message.date_created.utcoffset() == UTC.utcoffset(None)


def test_udm_success_body_has_exactly_twilio_fields_and_rfc2822_date(emulator: TwilioEmulator) -> None:
    # Given an in-progress call
    call = emulator.create_call(ACCOUNT_SID)

    # When a UDM is posted over plain HTTP
    response = _post_raw(emulator, call["sid"], {"Content": '{"a": 1}'})

    # Then the 201 JSON body carries exactly Twilio's fields and an RFC 2822 "+0000" date
    assert response.status_code == 201
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"account_sid", "call_sid", "sid", "date_created"}
    assert body["date_created"].endswith("+0000")
    assert email.utils.parsedate_to_datetime(body["date_created"]).utcoffset() == UTC.utcoffset(None)


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


def test_accepted_udm_is_recorded_with_raw_content_and_idempotency_key(
    emulator: TwilioEmulator, client: Client
) -> None:
    # Given an in-progress call
    call = emulator.create_call(ACCOUNT_SID)
    content = json.dumps({"type": "status", "text": "héllo"})

    # When a UDM with an idempotency key is accepted
    message = client.calls(call["sid"]).user_defined_messages.create(content=content, idempotency_key="k-1")

    # Then the emulator records the raw Content string and the key
    assert emulator.messages() == [
        {
            "sid": message.sid,
            "account_sid": ACCOUNT_SID,
            "call_sid": call["sid"],
            "content": content,
            "idempotency_key": "k-1",
            "date_created": emulator.messages()[0]["date_created"],
        }
    ]


def test_ringing_call_accepts_udm(emulator: TwilioEmulator, client: Client) -> None:
    # Given a call that is still ringing
    call = emulator.create_call(ACCOUNT_SID, status="ringing")

    # When a UDM is sent
    message = _send_udm(client, call["sid"])

    # Then it is accepted
    assert KX_SID.match(message.sid)


def test_connection_is_kept_alive_across_requests(emulator: TwilioEmulator) -> None:
    # Given one HTTP/1.1 connection to the emulator
    call = emulator.create_call(ACCOUNT_SID)
    host, port = emulator.base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    path = _udm_url(emulator, call["sid"]).removeprefix(emulator.base_url)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Authorization": requests.auth._basic_auth_str(ACCOUNT_SID, AUTH_TOKEN),
    }
    try:
        statuses = []
        # When two requests are sent back to back on it
        for _ in range(2):
            conn.request("POST", path, body="Content=%7B%7D", headers=headers)
            response = conn.getresponse()
            response.read()
            statuses.append(response.status)
            # Then the server does not ask to close it
            assert not response.will_close
    finally:
        conn.close()

    # And both requests succeed
    assert statuses == [201, 201]


# -- authentication -----------------------------------------------------------------------------------


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


# -- lookup & validation ------------------------------------------------------------------------------


def test_unknown_call_is_404_20404(emulator: TwilioEmulator, client: Client) -> None:
    # Given a well-formed call SID that the emulator never created
    unknown_call_sid = "CA" + "0" * 32

    # When a UDM is sent to it
    with pytest.raises(TwilioRestException) as excinfo:
        _send_udm(client, unknown_call_sid)

    # Then Twilio's not-found error names the requested resource
    assert (excinfo.value.status, excinfo.value.code) == (404, 20404)
    expected_path = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{unknown_call_sid}/UserDefinedMessages.json"
    assert f"The requested resource {expected_path} was not found" in excinfo.value.msg


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


@pytest.mark.parametrize("call_sid", ["CA123", "CX" + "a" * 32, "CA" + "g" * 32, "CA" + "a" * 33])
def test_malformed_call_sid_is_404(client: Client, call_sid: str) -> None:
    # Given a call SID that does not match ^CA[0-9a-fA-F]{32}$
    # When a UDM is sent to it
    with pytest.raises(TwilioRestException) as excinfo:
        _send_udm(client, call_sid)

    # Then it is not found
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


UDM_REFUSING_STATUSES = ["queued", "initiated", "completed", "busy", "failed", "no-answer", "canceled"]


@pytest.mark.parametrize("status", UDM_REFUSING_STATUSES)
def test_call_not_ringing_or_in_progress_rejects_udm_with_21220(
    emulator: TwilioEmulator, client: Client, status: str
) -> None:
    # Given a call in a state that cannot take UDMs
    call = emulator.create_call(ACCOUNT_SID, status=status)

    # When a UDM is sent
    with pytest.raises(TwilioRestException) as excinfo:
        _send_udm(client, call["sid"])

    # Then Twilio's 21220 comes back and nothing is recorded
    assert (excinfo.value.status, excinfo.value.code) == (400, 21220)
    assert "Call is not in-progress or ringing. Cannot send User Defined Message" in excinfo.value.msg
    assert emulator.messages() == []


def test_missing_content_is_400_20001(emulator: TwilioEmulator) -> None:
    # Given an in-progress call
    call = emulator.create_call(ACCOUNT_SID)

    # When a UDM is posted without Content
    response = _post_raw(emulator, call["sid"], {"IdempotencyKey": "k"})

    # Then the missing parameter is reported
    assert response.status_code == 400
    assert response.json()["code"] == 20001
    assert response.json()["message"] == "Missing required parameter Content in the post body"


def test_content_that_is_not_json_is_400_20001(emulator: TwilioEmulator, client: Client) -> None:
    # Given an in-progress call
    call = emulator.create_call(ACCOUNT_SID)

    # When the Content is not a JSON string
    with pytest.raises(TwilioRestException) as excinfo:
        client.calls(call["sid"]).user_defined_messages.create(content="{not json")

    # Then it is rejected as invalid JSON
    assert (excinfo.value.status, excinfo.value.code) == (400, 20001)
    assert "Content must be a valid JSON string" in excinfo.value.msg


def test_content_longer_than_10240_utf8_bytes_is_400_32703(emulator: TwilioEmulator, client: Client) -> None:
    # Given Content of 10241 UTF-8 bytes (multi-byte characters count by bytes, not characters)
    call = emulator.create_call(ACCOUNT_SID)
    content = json.dumps("é" * 5119 + "a", ensure_ascii=False)
    assert len(content.encode()) == 10241

    # When it is sent
    with pytest.raises(TwilioRestException) as excinfo:
        client.calls(call["sid"]).user_defined_messages.create(content=content)

    # Then the length limit error comes back
    assert (excinfo.value.status, excinfo.value.code) == (400, 32703)
    assert "Content body exceeded max length" in excinfo.value.msg


def test_content_of_exactly_10240_utf8_bytes_is_accepted(emulator: TwilioEmulator, client: Client) -> None:
    # Given Content of exactly 10240 UTF-8 bytes
    call = emulator.create_call(ACCOUNT_SID)
    content = json.dumps("é" * 5119, ensure_ascii=False)
    assert len(content.encode()) == 10240

    # When it is sent
    message = client.calls(call["sid"]).user_defined_messages.create(content=content)

    # Then it is accepted unchanged
    assert KX_SID.match(message.sid)
    assert emulator.messages()[0]["content"] == content


def test_wrong_method_on_udm_path_is_405_20004(emulator: TwilioEmulator) -> None:
    # Given an in-progress call
    call = emulator.create_call(ACCOUNT_SID)

    # When its UDM collection is fetched with GET
    response = requests.get(_udm_url(emulator, call["sid"]), auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=10)

    # Then the method is not allowed
    assert response.status_code == 405
    assert response.json()["code"] == 20004
    assert response.json()["message"] == "Method not allowed"


def test_other_twilio_paths_are_404_20404(emulator: TwilioEmulator) -> None:
    # Given a Twilio API path the emulator does not implement
    url = f"{emulator.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"

    # When it is requested
    response = requests.post(url, data={"Body": "hi"}, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=10)

    # Then Twilio's not-found error body comes back as JSON
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["code"] == 20404
    assert response.json()["more_info"] == "https://www.twilio.com/docs/errors/20404"


# -- idempotency --------------------------------------------------------------------------------------


def test_replayed_idempotency_key_returns_same_resource_and_records_once(
    emulator: TwilioEmulator, client: Client
) -> None:
    # Given a UDM already accepted with an idempotency key
    call = emulator.create_call(ACCOUNT_SID)
    first = _send_udm(client, call["sid"], {"n": 1}, idempotency_key="same-key")

    # When the same key is sent again for the same call
    second = _send_udm(client, call["sid"], {"n": 1}, idempotency_key="same-key")

    # Then the original resource is returned and only one message exists
    assert (second.sid, second.date_created) == (first.sid, first.date_created)
    assert len(emulator.messages()) == 1
    stats = emulator.stats()
    assert (stats["udm_created"], stats["udm_replayed"]) == (1, 1)


def test_distinct_idempotency_keys_create_distinct_messages(emulator: TwilioEmulator, client: Client) -> None:
    # Given an in-progress call
    call = emulator.create_call(ACCOUNT_SID)

    # When two UDMs are sent with different keys
    first = _send_udm(client, call["sid"], idempotency_key="key-1")
    second = _send_udm(client, call["sid"], idempotency_key="key-2")

    # Then both are recorded separately
    assert first.sid != second.sid
    assert [m["idempotency_key"] for m in emulator.messages()] == ["key-1", "key-2"]


def test_idempotency_key_is_scoped_to_the_call(emulator: TwilioEmulator, client: Client) -> None:
    # Given two in-progress calls
    call_a = emulator.create_call(ACCOUNT_SID)
    call_b = emulator.create_call(ACCOUNT_SID)

    # When the same key is used on both
    first = _send_udm(client, call_a["sid"], idempotency_key="shared")
    second = _send_udm(client, call_b["sid"], idempotency_key="shared")

    # Then each call gets its own message
    assert first.sid != second.sid
    assert len(emulator.messages()) == 2


def test_concurrent_requests_with_same_idempotency_key_record_once(emulator: TwilioEmulator) -> None:
    # Given an in-progress call
    call = emulator.create_call(ACCOUNT_SID)

    # When several clients race with the same idempotency key
    def send(_: int) -> str:
        response = _post_raw(emulator, call["sid"], {"Content": "{}", "IdempotencyKey": "race"})
        assert response.status_code == 201
        return str(response.json()["sid"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        sids = set(pool.map(send, range(16)))

    # Then every caller sees the same resource and one message is recorded
    assert len(sids) == 1
    assert len(emulator.messages()) == 1
    assert emulator.stats()["udm_replayed"] == 15


# -- faults -------------------------------------------------------------------------------------------


def test_429_fault_surfaces_as_twilio_rest_exception(emulator: TwilioEmulator, client: Client) -> None:
    # Given an in-progress call and a queued 429 fault
    call = emulator.create_call(ACCOUNT_SID)
    emulator.add_fault({"status": 429})

    # When a UDM is sent
    with pytest.raises(TwilioRestException) as excinfo:
        _send_udm(client, call["sid"])

    # Then the client sees Twilio's rate-limit error and nothing is recorded
    assert (excinfo.value.status, excinfo.value.code) == (429, 20429)
    assert emulator.messages() == []


def test_429_fault_with_retry_after_sends_retry_after_header(emulator: TwilioEmulator) -> None:
    # Given an in-progress call and a 429 fault with retry_after
    call = emulator.create_call(ACCOUNT_SID)
    emulator.add_fault({"status": 429, "retry_after": 2})

    # When a UDM is posted
    response = _post_raw(emulator, call["sid"], {"Content": "{}"})

    # Then the Retry-After header and Twilio error body are present
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"
    assert response.json() == {
        "code": 20429,
        "message": "Too Many Requests",
        "more_info": "https://www.twilio.com/docs/errors/20429",
        "status": 429,
    }


@pytest.mark.parametrize(("status", "code"), [(500, 20500), (503, 20503)])
def test_server_error_faults_use_matching_twilio_codes(
    emulator: TwilioEmulator, client: Client, status: int, code: int
) -> None:
    # Given an in-progress call and a 5xx fault
    call = emulator.create_call(ACCOUNT_SID)
    emulator.add_fault({"status": status})

    # When a UDM is sent
    with pytest.raises(TwilioRestException) as excinfo:
        _send_udm(client, call["sid"])

    # Then the matching Twilio error code is returned
    assert (excinfo.value.status, excinfo.value.code) == (status, code)


def test_fault_count_affects_exactly_that_many_requests(emulator: TwilioEmulator) -> None:
    # Given a 503 fault with count 2
    call = emulator.create_call(ACCOUNT_SID)
    emulator.add_fault({"status": 503, "count": 2})

    # When three UDMs are posted
    statuses = [_post_raw(emulator, call["sid"], {"Content": "{}"}).status_code for _ in range(3)]

    # Then the first two fail and the third succeeds
    assert statuses == [503, 503, 201]
    assert emulator.stats()["faults_injected"] == 2


def test_faults_apply_in_fifo_order(emulator: TwilioEmulator) -> None:
    # Given a 429 fault queued before a 500 fault
    call = emulator.create_call(ACCOUNT_SID)
    emulator.add_fault([{"status": 429}, {"status": 500}])

    # When three UDMs are posted
    statuses = [_post_raw(emulator, call["sid"], {"Content": "{}"}).status_code for _ in range(3)]

    # Then the faults are consumed in order
    assert statuses == [429, 500, 201]


def test_status_fault_is_applied_before_authentication(emulator: TwilioEmulator) -> None:
    # Given a 503 fault
    call = emulator.create_call(ACCOUNT_SID)
    emulator.add_fault({"status": 503})

    # When an unauthenticated UDM is posted
    response = _post_raw(emulator, call["sid"], {"Content": "{}"}, auth=None)

    # Then the overloaded front door answers before auth is checked
    assert response.status_code == 503


def test_latency_fault_delays_response_by_at_least_latency_ms(
    emulator: TwilioEmulator,
    client: Client,
) -> None:
    # Given a 300 ms latency fault
    call = emulator.create_call(ACCOUNT_SID)
    emulator.add_fault({"latency_ms": 300})

    # When a UDM is sent
    started = time.monotonic()
    message = _send_udm(client, call["sid"])
    elapsed = time.monotonic() - started

    # Then it is processed normally, but no sooner than the injected latency
    assert elapsed >= 0.3
    assert KX_SID.match(message.sid)
    assert len(emulator.messages()) == 1


def test_drop_before_fault_raises_connection_error_and_records_nothing(
    emulator: TwilioEmulator, client: Client
) -> None:
    # Given a drop-before fault
    call = emulator.create_call(ACCOUNT_SID)
    emulator.add_fault({"drop": "before"})

    # When a UDM is sent
    with pytest.raises(requests.exceptions.ConnectionError):
        _send_udm(client, call["sid"], idempotency_key="dropped-before")

    # Then nothing was processed, so nothing was recorded
    assert emulator.messages() == []
    assert emulator.stats() == {"udm_requests": 1, "udm_created": 0, "udm_replayed": 0, "faults_injected": 1}


def test_drop_after_fault_records_message_and_retry_with_same_key_replays(
    emulator: TwilioEmulator, client: Client
) -> None:
    # Given a drop-after fault
    call = emulator.create_call(ACCOUNT_SID)
    emulator.add_fault({"drop": "after"})

    # When a UDM is sent, the connection drops, and the sender retries with the same key
    with pytest.raises(requests.exceptions.ConnectionError):
        _send_udm(client, call["sid"], {"n": 1}, idempotency_key="retry-me")
    retried = _send_udm(client, call["sid"], {"n": 1}, idempotency_key="retry-me")

    # Then the retry gets the sid recorded by the dropped request and there is still one message
    messages = emulator.messages()
    assert len(messages) == 1
    assert retried.sid == messages[0]["sid"]
    assert emulator.stats()["udm_replayed"] == 1


def test_invalid_fault_is_rejected_and_nothing_is_queued(emulator: TwilioEmulator) -> None:
    # Given a list where the second fault is invalid
    faults: list[dict[str, Any]] = [{"status": 429}, {"drop": "sideways"}]

    # When it is added
    with pytest.raises(ValueError, match="drop"):
        emulator.add_fault(faults)

    # Then no fault was queued
    call = emulator.create_call(ACCOUNT_SID)
    assert _post_raw(emulator, call["sid"], {"Content": "{}"}).status_code == 201


def test_clear_faults_discards_queued_faults(emulator: TwilioEmulator) -> None:
    # Given a queued fault
    call = emulator.create_call(ACCOUNT_SID)
    emulator.add_fault({"status": 500, "count": 5})

    # When faults are cleared
    emulator.clear_faults()

    # Then UDMs succeed again
    assert _post_raw(emulator, call["sid"], {"Content": "{}"}).status_code == 201


# -- stats --------------------------------------------------------------------------------------------


def test_stats_count_every_udm_post_including_faulted_and_rejected(
    emulator: TwilioEmulator,
    client: Client,
) -> None:
    # Given one faulted, one rejected, one created and one replayed UDM
    call = emulator.create_call(ACCOUNT_SID)
    emulator.add_fault({"status": 429})
    _post_raw(emulator, call["sid"], {"Content": "{}"})
    _post_raw(emulator, call["sid"], {"Content": "not json"})
    _post_raw(emulator, call["sid"], {"Content": "{}", "IdempotencyKey": "k"})
    _post_raw(emulator, call["sid"], {"Content": "{}", "IdempotencyKey": "k"})

    # When stats are read
    stats = emulator.stats()

    # Then every request is counted, but only the one accepted message is "created"
    assert stats == {"udm_requests": 4, "udm_created": 1, "udm_replayed": 1, "faults_injected": 1}


# -- control API over HTTP ----------------------------------------------------------------------------


def test_control_health_reports_ok(emulator: TwilioEmulator) -> None:
    # Given a running emulator
    # When its health endpoint is queried
    response = requests.get(f"{emulator.base_url}/_emulator/health", timeout=10)

    # Then it reports ok
    assert (response.status_code, response.json()) == (200, {"ok": True})


def test_control_create_call_defaults_to_first_account_in_progress(
    emulator: TwilioEmulator, control: ControlClient
) -> None:
    # Given the control client
    # When a call is created without an account or SID
    status, call = control.call("POST", "/calls", {"status": "in-progress"})

    # Then it is in progress, on the first account, with a generated CA sid, and visible in-process
    assert status == 201
    assert call["account_sid"] == ACCOUNT_SID
    assert call["status"] == "in-progress"
    assert CA_SID.match(call["sid"])
    assert control.get("/calls") == [call] == emulator.calls()


def test_control_create_call_with_explicit_sid_and_status(control: ControlClient, client: Client) -> None:
    # Given a chosen call SID
    sid = "CA" + "1" * 32

    # When a ringing call is created with it
    call = control.post("/calls", {"status": "ringing", "account_sid": ACCOUNT_SID, "sid": sid})

    # Then the call exists under that SID and takes UDMs
    assert call == {"sid": sid, "account_sid": ACCOUNT_SID, "status": "ringing"}
    assert KX_SID.match(_send_udm(client, sid).sid)


def test_control_set_call_status_completed_makes_udm_fail_with_21220(
    control: ControlClient,
    client: Client,
) -> None:
    # Given an in-progress call created over the control API
    call = control.post("/calls", {"status": "in-progress"})

    # When it is marked completed
    updated = control.post(f"/calls/{call['sid']}", {"status": "completed"})

    # Then UDMs to it are refused
    assert updated["status"] == "completed"
    with pytest.raises(TwilioRestException) as excinfo:
        _send_udm(client, call["sid"])
    assert excinfo.value.code == 21220


def test_control_rejects_invalid_call_status(control: ControlClient) -> None:
    # Given the control client
    # When a call is created with a status Twilio does not have
    status, body = control.call("POST", "/calls", {"status": "talking"})

    # Then the emulator answers 400 with the reason
    assert status == 400
    assert body["error"].startswith("invalid call status 'talking'")


def test_control_set_status_of_unknown_call_is_404(control: ControlClient) -> None:
    # Given a call SID the emulator does not know
    sid = "CA" + "9" * 32

    # When its status is changed
    status, body = control.call("POST", f"/calls/{sid}", {"status": "completed"})

    # Then the emulator answers 404 naming the call
    assert (status, body) == (404, {"error": f"unknown call {sid}"})


def test_control_messages_and_stats_reflect_accepted_udms(control: ControlClient, client: Client) -> None:
    # Given a UDM accepted by the emulator
    call = control.post("/calls", {"status": "in-progress"})
    message = _send_udm(client, call["sid"], {"hello": "world"})

    # When messages and stats are read over HTTP
    messages = control.get("/messages")
    stats = control.get("/stats")

    # Then they match what was sent
    assert [(m["sid"], m["content"]) for m in messages] == [(message.sid, '{"hello": "world"}')]
    assert stats == {"udm_requests": 1, "udm_created": 1, "udm_replayed": 0, "faults_injected": 0}


def test_control_faults_are_applied_to_udm_requests(control: ControlClient, client: Client) -> None:
    # Given a 503 fault added over HTTP
    call = control.post("/calls", {"status": "in-progress"})
    control.post("/faults", {"status": 503, "retry_after": 1})

    # When a UDM is sent
    with pytest.raises(TwilioRestException) as excinfo:
        _send_udm(client, call["sid"])

    # Then the fault was applied and consumed
    assert excinfo.value.status == 503
    assert control.get("/faults") == []


def test_control_clear_faults_discards_queued_faults(control: ControlClient, client: Client) -> None:
    # Given faults added over HTTP
    call = control.post("/calls", {"status": "in-progress"})
    control.post("/faults", [{"status": 500, "count": 3}, {"drop": "before"}])

    # When they are cleared over HTTP
    assert control.call("DELETE", "/faults") == (204, None)

    # Then UDMs succeed
    assert KX_SID.match(_send_udm(client, call["sid"]).sid)


def test_control_rejects_invalid_fault(control: ControlClient) -> None:
    # Given the control client
    # When a fault with an out-of-range status is added
    status, body = control.call("POST", "/faults", {"status": 200})

    # Then the emulator answers 400 with the reason
    assert (status, body) == (400, {"error": "fault 'status' must be an integer HTTP status in 400..599"})


def test_control_reset_forgets_state_but_keeps_accounts(control: ControlClient, client: Client) -> None:
    # Given a call, a message, a pending fault and non-zero stats
    call = control.post("/calls", {"status": "in-progress"})
    _send_udm(client, call["sid"], idempotency_key="before-reset")
    control.post("/faults", {"status": 500})

    # When the emulator is reset over HTTP
    control.post("/reset")

    # Then calls, messages, faults and stats are gone, while the account still authenticates
    assert control.get("/calls") == []
    assert control.get("/messages") == []
    assert control.get("/faults") == []
    assert control.get("/stats") == {"udm_requests": 0, "udm_created": 0, "udm_replayed": 0, "faults_injected": 0}
    new_call = control.post("/calls", {"status": "in-progress"})
    assert KX_SID.match(_send_udm(client, new_call["sid"], idempotency_key="before-reset").sid)
    assert len(control.get("/messages")) == 1


def test_control_unknown_endpoint_is_404(emulator: TwilioEmulator) -> None:
    # Given a path under /_emulator/ that does not exist
    # When it is requested
    response = requests.get(f"{emulator.base_url}/_emulator/nope", timeout=10)

    # Then the control API answers 404 with a JSON error
    assert response.status_code == 404
    assert "error" in response.json()


# -- simulated Voice SDK calls & signed status callbacks ---------------------------------------------


@dataclass(frozen=True)
class Received:
    """One POST as the receiver saw it; `url` is rebuilt from Host + request target, as a server would."""

    url: str
    header_names: tuple[str, ...]
    headers: dict[str, str]  # lower-case names
    form: dict[str, str]


class CallbackReceiver:
    """A stand-in for the bridge's HTTP front: records every POST and answers `status` (204)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self.status = 204
        self.on_post: Callable[[Received], None] | None = None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8")
                pairs = urllib.parse.parse_qsl(body, keep_blank_values=True, strict_parsing=True)
                form = dict(pairs)
                # Twilio never repeats a status callback parameter; a dict must not hide one.
                assert len(form) == len(pairs)
                received = Received(
                    url=f"http://{self.headers['Host']}{self.path}",
                    header_names=tuple(self.headers.keys()),
                    headers={name.lower(): value for name, value in self.headers.items()},
                    form=form,
                )
                with receiver._lock:
                    receiver._received.append(received)
                if receiver.on_post is not None:
                    receiver.on_post(received)
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> "CallbackReceiver":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def url(self, path_and_query: str = "/twilio/call-status") -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path_and_query}"

    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def clear(self) -> None:
        with self._lock:
            self._received.clear()
        self.status = 204
        self.on_post = None


@pytest.fixture(scope="module")
def receiver_server() -> Iterator[CallbackReceiver]:
    server = CallbackReceiver().start()
    yield server
    server.stop()


@pytest.fixture
def receiver(receiver_server: CallbackReceiver) -> CallbackReceiver:
    receiver_server.clear()
    return receiver_server


DIAL_QUERY = "?key=identity:alice&leg=parent"
CHILD_PARAMS = {
    "AccountSid",
    "ApiVersion",
    "CallSid",
    "CallStatus",
    "Called",
    "Caller",
    "Direction",
    "From",
    "To",
    "ParentCallSid",
    "SequenceNumber",
    "Timestamp",
    "CallbackSource",
}


def _signed_for(received: Received, token: str = AUTH_TOKEN) -> bool:
    return bool(RequestValidator(token).validate(received.url, received.form, received.headers["x-twilio-signature"]))


def _statuses(received: list[Received]) -> list[str]:
    return [item.form["CallStatus"] for item in received]


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/twilio/call-status"


def _call_status(emulator: TwilioEmulator, call_sid: str) -> str:
    return str(next(call["status"] for call in emulator.calls() if call["sid"] == call_sid))


def test_inbound_call_sends_signed_initiated_ringing_answered_completed_for_the_client_leg(
    emulator: TwilioEmulator, receiver: CallbackReceiver
) -> None:
    # Given an SDK user "bob" rung by a PSTN caller, the <Client> leg reporting to the receiver
    url = receiver.url()
    call = emulator.place_inbound("bob", url)

    # When bob answers and later hangs up
    emulator.answer(call["child"])
    emulator.hang_up(call["child"])

    # Then the child leg's four callbacks arrived in order, numbered 0..3
    got = receiver.received()
    assert _statuses(got) == ["initiated", "ringing", "in-progress", "completed"]
    assert [item.form["SequenceNumber"] for item in got] == ["0", "1", "2", "3"]
    # And each describes the child leg to client:bob, as Twilio would
    for item in got:
        assert set(item.form) == CHILD_PARAMS | ({"CallDuration"} if item.form["CallStatus"] == "completed" else set())
        assert item.form["AccountSid"] == ACCOUNT_SID
        assert item.form["ApiVersion"] == "2010-04-01"
        assert item.form["CallSid"] == call["child"]
        assert item.form["ParentCallSid"] == call["parent"]
        assert (item.form["Direction"], item.form["CallbackSource"]) == ("outbound-dial", "call-progress-events")
        assert item.form["To"] == item.form["Called"] == "client:bob"
        assert item.form["From"] == item.form["Caller"] == "+15551230000"
        assert item.form["Timestamp"].endswith(" +0000")
        assert email.utils.parsedate_to_datetime(item.form["Timestamp"]).utcoffset() == UTC.utcoffset(None)
        # And is signed for the exact URL it was sent to, with the account's auth token
        assert item.url == url
        assert _signed_for(item)
        assert not _signed_for(item, OTHER_AUTH_TOKEN)
        assert "X-Twilio-Signature" in item.header_names
        assert item.headers["content-type"] == "application/x-www-form-urlencoded"
        assert item.headers["user-agent"] == "TwilioProxy/1.1"
    assert got[3].form["CallDuration"].isdigit()
    # And the emulator recorded them as delivered, with the signature that was sent
    records = emulator.callbacks()
    assert [(r["index"], r["url"], r["status_code"], r["error"]) for r in records] == [
        (i, url, 204, None) for i in range(4)
    ]
    assert [r["signature"] for r in records] == [item.headers["x-twilio-signature"] for item in got]
    assert [r["params"] for r in records] == [item.form for item in got]


def test_inbound_call_leaves_child_ringing_under_an_in_progress_parent_until_hung_up(
    emulator: TwilioEmulator, receiver: CallbackReceiver
) -> None:
    # Given an inbound call placed to "bob"
    call = emulator.place_inbound("bob", receiver.url(), caller="+15559990000")

    # When the call table is read
    calls = {c["sid"]: c for c in emulator.calls()}

    # Then the parent is the caller's in-progress inbound call and the child is ringing client:bob
    assert calls[call["parent"]] == {
        "sid": call["parent"],
        "account_sid": ACCOUNT_SID,
        "status": "in-progress",
        "direction": "inbound",
        "from": "+15559990000",
        "to": "+15550001111",
        "parent_call_sid": None,
    }
    assert calls[call["child"]] == {
        "sid": call["child"],
        "account_sid": ACCOUNT_SID,
        "status": "ringing",
        "direction": "outbound-dial",
        "from": "+15559990000",
        "to": "client:bob",
        "parent_call_sid": call["parent"],
    }

    # And when the answered child hangs up, both legs end: the child first, then the parent
    emulator.answer(call["child"])
    ended = emulator.hang_up(call["child"])
    assert (ended["child"]["status"], ended["parent"]["status"]) == ("completed", "completed")
    assert {c["status"] for c in emulator.calls()} == {"completed"}


def test_outbound_call_reports_child_to_dial_url_with_query_and_parent_completed_to_app_url(
    emulator: TwilioEmulator, receiver: CallbackReceiver
) -> None:
    # Given "alice" calling a number through a TwiML App: <Number> reports to DIAL_URL, the app to APP_URL
    dial_url = receiver.url("/twilio/call-status" + DIAL_QUERY)
    app_url = receiver.url("/twilio/call-status")
    call = emulator.place_outbound("alice", dial_url, app_url)

    # When the callee answers and later hangs up
    emulator.answer(call["child"])
    emulator.hang_up(call["child"])

    # Then the child's four callbacks went to DIAL_URL, query included, then the parent's completed to APP_URL
    got = receiver.received()
    assert [item.url for item in got] == [dial_url] * 4 + [app_url]
    assert _statuses(got) == ["initiated", "ringing", "in-progress", "completed", "completed"]
    child, parent = got[:4], got[4]
    for item in child:
        assert item.form["CallSid"] == call["child"]
        assert item.form["ParentCallSid"] == call["parent"]
        assert (item.form["From"], item.form["To"]) == ("+15550001111", "+15557654321")
        assert item.form["Direction"] == "outbound-dial"
        assert _signed_for(item)
        # The signature covers the query string: without it the request does not validate
        assert not RequestValidator(AUTH_TOKEN).validate(
            item.url.removesuffix(DIAL_QUERY), item.form, item.headers["x-twilio-signature"]
        )
    assert [item.form["SequenceNumber"] for item in child] == ["0", "1", "2", "3"]
    # And the parent's completed describes the SDK leg, without SequenceNumber or CallbackSource
    assert parent.form["CallSid"] == call["parent"]
    assert (parent.form["From"], parent.form["Caller"]) == ("client:alice", "client:alice")
    assert (parent.form["To"], parent.form["Called"]) == ("+15557654321", "+15557654321")
    assert parent.form["Direction"] == "inbound"
    assert parent.form["CallDuration"].isdigit()
    assert not {"SequenceNumber", "CallbackSource", "ParentCallSid"} & set(parent.form)
    assert _signed_for(parent)


def test_outbound_call_without_app_status_callback_sends_only_the_child_callbacks(
    emulator: TwilioEmulator, receiver: CallbackReceiver
) -> None:
    # Given an outbound call whose TwiML App has no status callback URL
    call = emulator.place_outbound("alice", receiver.url(), to="+15553334444")

    # When it is answered and the parent hangs up
    emulator.answer(call["child"])
    emulator.hang_up(call["parent"])

    # Then only the child leg reported, to the dialled number
    got = receiver.received()
    assert _statuses(got) == ["initiated", "ringing", "in-progress", "completed"]
    assert {item.form["CallSid"] for item in got} == {call["child"]}
    assert {item.form["To"] for item in got} == {"+15553334444"}


def test_udm_to_child_is_accepted_while_ringing_or_in_progress_and_refused_after_hang_up(
    emulator: TwilioEmulator, receiver: CallbackReceiver, client: Client
) -> None:
    # Given an inbound call ringing bob
    call = emulator.place_inbound("bob", receiver.url())

    # When UDMs are sent to the child while it rings and after it is answered
    ringing = _send_udm(client, call["child"], {"n": 1})
    emulator.answer(call["child"])
    answered = _send_udm(client, call["child"], {"n": 2})

    # Then both are accepted
    assert KX_SID.match(ringing.sid)
    assert KX_SID.match(answered.sid)

    # And after the call is hung up, UDMs to either leg are refused with 21220
    emulator.hang_up(call["child"])
    for sid in (call["child"], call["parent"]):
        with pytest.raises(TwilioRestException) as excinfo:
            _send_udm(client, sid)
        assert (excinfo.value.status, excinfo.value.code) == (400, 21220)


def test_receiver_can_send_udm_while_handling_a_callback_and_sees_the_status_it_was_told(
    emulator: TwilioEmulator, receiver: CallbackReceiver
) -> None:
    # Given a receiver that, like the bridge, sends a UDM to the call while it handles each callback
    udm_client = _twilio_client(emulator, ACCOUNT_SID, AUTH_TOKEN)
    outcomes: list[tuple[str, str]] = []

    def send_udm(received: Received) -> None:
        try:
            _send_udm(udm_client, received.form["CallSid"])
            outcomes.append((received.form["CallStatus"], "accepted"))
        except TwilioRestException as exc:
            outcomes.append((received.form["CallStatus"], str(exc.code)))

    receiver.on_post = send_udm

    # When a call is placed, answered and hung up
    call = emulator.place_inbound("bob", receiver.url())
    emulator.answer(call["child"])
    emulator.hang_up(call["child"])

    # Then no callback deadlocked on the emulator, and each UDM met the status its callback announced
    assert outcomes == [
        ("initiated", "21220"),
        ("ringing", "accepted"),
        ("in-progress", "accepted"),
        ("completed", "21220"),
    ]
    assert [r["status_code"] for r in emulator.callbacks()] == [204] * 4


def test_hang_up_of_unanswered_child_with_no_answer_reports_no_answer_then_completes_parent(
    emulator: TwilioEmulator, receiver: CallbackReceiver
) -> None:
    # Given an outbound call whose callee never picks up
    dial_url = receiver.url("/twilio/call-status" + DIAL_QUERY)
    app_url = receiver.url("/twilio/call-status")
    call = emulator.place_outbound("alice", dial_url, app_url)

    # When the child leg gives up with no-answer
    ended = emulator.hang_up(call["child"], "no-answer")

    # Then the child's completed event carries no-answer and no talk time, then the parent completes
    got = receiver.received()
    assert [(item.url, item.form["CallStatus"]) for item in got] == [
        (dial_url, "initiated"),
        (dial_url, "ringing"),
        (dial_url, "no-answer"),
        (app_url, "completed"),
    ]
    assert (got[2].form["SequenceNumber"], got[2].form["CallDuration"]) == ("2", "0")
    assert all(_signed_for(item) for item in got)
    assert (ended["child"]["status"], ended["parent"]["status"]) == ("no-answer", "completed")
    assert (_call_status(emulator, call["child"]), _call_status(emulator, call["parent"])) == (
        "no-answer",
        "completed",
    )


def test_hang_up_of_parent_completes_answered_child_first_then_parent(
    emulator: TwilioEmulator, receiver: CallbackReceiver
) -> None:
    # Given an answered outbound call
    dial_url = receiver.url("/twilio/call-status" + DIAL_QUERY)
    app_url = receiver.url("/twilio/call-status")
    call = emulator.place_outbound("alice", dial_url, app_url)
    emulator.answer(call["child"])

    # When the SDK user (the parent leg) hangs up
    ended = emulator.hang_up(call["parent"])

    # Then the child's completed goes to DIAL_URL before the parent's goes to APP_URL
    last_two = receiver.received()[-2:]
    assert [(item.url, item.form["CallSid"], item.form["CallStatus"]) for item in last_two] == [
        (dial_url, call["child"], "completed"),
        (app_url, call["parent"], "completed"),
    ]
    assert (ended["child"]["status"], ended["parent"]["status"]) == ("completed", "completed")


def test_hang_up_of_parent_while_child_rings_cancels_the_child(
    emulator: TwilioEmulator, receiver: CallbackReceiver
) -> None:
    # Given an inbound call still ringing bob
    call = emulator.place_inbound("bob", receiver.url())

    # When the PSTN caller (the parent leg) hangs up
    ended = emulator.hang_up(call["parent"])

    # Then the unanswered child ends canceled, without talk time, and the parent completes
    last = receiver.received()[-1]
    assert (last.form["CallStatus"], last.form["CallDuration"], last.form["SequenceNumber"]) == ("canceled", "0", "2")
    assert (ended["child"]["status"], ended["parent"]["status"]) == ("canceled", "completed")


def test_only_listed_events_are_sent_and_sequence_numbers_count_the_sent_ones(
    emulator: TwilioEmulator, receiver: CallbackReceiver
) -> None:
    # Given a <Client> leg configured with statusCallbackEvent="ringing completed"
    call = emulator.place_inbound("bob", receiver.url(), events=("ringing", "completed"))

    # When it is answered (no callback) and hung up
    emulator.answer(call["child"])
    in_call_status = _call_status(emulator, call["child"])
    emulator.hang_up(call["child"])

    # Then only ringing and completed were sent, numbered 0 and 1, while the status still tracked the call
    got = receiver.received()
    assert [(item.form["CallStatus"], item.form["SequenceNumber"]) for item in got] == [
        ("ringing", "0"),
        ("completed", "1"),
    ]
    assert in_call_status == "in-progress"


def test_events_can_be_given_as_twilio_space_separated_string(
    emulator: TwilioEmulator, receiver: CallbackReceiver
) -> None:
    # Given events written as in TwiML's statusCallbackEvent attribute
    call = emulator.place_inbound("bob", receiver.url(), events="answered completed")

    # When the call is answered
    emulator.answer(call["child"])

    # Then placing sent nothing and answering sent the first callback
    assert [(item.form["CallStatus"], item.form["SequenceNumber"]) for item in receiver.received()] == [
        ("in-progress", "0")
    ]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"events": ("initiated", "hangup")}, "event"),
        ({"identity": ""}, "identity"),
        ({"status_callback": "ftp://127.0.0.1/cb"}, "status_callback"),
        ({"status_callback": "not a url"}, "status_callback"),
        ({"account_sid": OTHER_ACCOUNT_SID}, "account_sid"),
    ],
)
def test_placing_a_call_with_invalid_arguments_is_rejected_and_creates_nothing(
    emulator: TwilioEmulator, receiver: CallbackReceiver, kwargs: dict[str, Any], match: str
) -> None:
    # Given one invalid argument among otherwise valid ones
    arguments: dict[str, Any] = {"identity": "bob", "status_callback": receiver.url(), **kwargs}

    # When an inbound call is placed
    # Then it raises ValueError and nothing was created or sent
    with pytest.raises(ValueError, match=match):
        emulator.place_inbound(**arguments)
    assert emulator.calls() == []
    assert emulator.callbacks() == []


def test_answer_and_hang_up_refuse_legs_that_cannot_do_so(emulator: TwilioEmulator, receiver: CallbackReceiver) -> None:
    # Given an inbound call and a plain (non-simulated) call
    call = emulator.place_inbound("bob", receiver.url())
    plain = emulator.create_call(ACCOUNT_SID)

    # When impossible transitions are asked for, Then they are refused
    with pytest.raises(ValueError, match="parent leg"):
        emulator.answer(call["parent"])
    with pytest.raises(ValueError, match="not a simulated"):
        emulator.answer(plain["sid"])
    with pytest.raises(ValueError, match="final call status"):
        emulator.hang_up(call["child"], "ringing")
    with pytest.raises(KeyError):
        emulator.answer("CA" + "0" * 32)
    emulator.answer(call["child"])
    with pytest.raises(ValueError, match="not ringing"):
        emulator.answer(call["child"])
    emulator.hang_up(call["child"])
    with pytest.raises(ValueError, match="already ended"):
        emulator.hang_up(call["parent"])
    # And the refused attempts sent nothing beyond the four real callbacks
    assert _statuses(receiver.received()) == ["initiated", "ringing", "in-progress", "completed"]


def test_held_callbacks_are_recorded_unsent_and_released_in_the_given_order(
    emulator: TwilioEmulator, receiver: CallbackReceiver
) -> None:
    # Given callbacks held while a call is placed and answered
    emulator.hold_callbacks()
    call = emulator.place_inbound("bob", receiver.url())
    emulator.answer(call["child"])

    # Then nothing was sent, yet the call state moved on and the callbacks are recorded as held
    assert receiver.received() == []
    assert _call_status(emulator, call["child"]) == "in-progress"
    assert [(r["index"], r["held"], r["status_code"]) for r in emulator.callbacks()] == [
        (0, True, None),
        (1, True, None),
        (2, True, None),
    ]

    # When they are released in reverse order
    released = emulator.release_callbacks([2, 1, 0])

    # Then they arrive in that order, still correctly signed, and are recorded as delivered
    got = receiver.received()
    assert _statuses(got) == ["in-progress", "ringing", "initiated"]
    assert [item.form["SequenceNumber"] for item in got] == ["2", "1", "0"]
    assert all(_signed_for(item) for item in got)
    assert [(r["index"], r["held"], r["status_code"]) for r in released] == [
        (2, False, 204),
        (1, False, 204),
        (0, False, 204),
    ]


def test_hold_stays_on_until_turned_off_and_release_without_order_sends_oldest_first(
    emulator: TwilioEmulator, receiver: CallbackReceiver
) -> None:
    # Given held callbacks, some released already
    emulator.hold_callbacks(True)
    call = emulator.place_inbound("bob", receiver.url())
    emulator.release_callbacks([1])

    # When more callbacks happen while still held, and holding is then turned off
    emulator.answer(call["child"])
    emulator.hold_callbacks(False)
    emulator.hang_up(call["child"])

    # Then the ones recorded while held wait for release; the later one was sent straight away
    assert _statuses(receiver.received()) == ["ringing", "completed"]
    released = emulator.release_callbacks()
    assert [r["index"] for r in released] == [0, 2]
    assert _statuses(receiver.received()) == ["ringing", "completed", "initiated", "in-progress"]
    assert emulator.release_callbacks() == []


def test_release_rejects_unknown_repeated_or_already_sent_indexes(
    emulator: TwilioEmulator, receiver: CallbackReceiver
) -> None:
    # Given one sent callback and one held callback
    emulator.place_inbound("bob", receiver.url(), events=("initiated", "ringing"))
    emulator.hold_callbacks()
    emulator.replay_callback(0)

    # When bad orders are given, Then they are refused and nothing is released
    with pytest.raises(KeyError):
        emulator.release_callbacks([99])
    with pytest.raises(KeyError):
        emulator.release_callbacks([-1])
    with pytest.raises(ValueError, match="not held"):
        emulator.release_callbacks([0])
    with pytest.raises(ValueError, match="more than once"):
        emulator.release_callbacks([2, 2])
    assert [r["held"] for r in emulator.callbacks()] == [False, False, True]


def test_replay_resends_identical_params_and_signature_as_a_new_record(
    emulator: TwilioEmulator, receiver: CallbackReceiver
) -> None:
    # Given a delivered ringing callback to a URL with a query string
    url = receiver.url("/twilio/call-status" + DIAL_QUERY)
    emulator.place_outbound("alice", url)

    # When it is replayed
    replayed = emulator.replay_callback(1)

    # Then the very same request arrives again, still valid, and is recorded under a new index
    got = receiver.received()
    assert len(got) == 3
    assert (got[2].url, got[2].form, got[2].headers["x-twilio-signature"]) == (
        got[1].url,
        got[1].form,
        got[1].headers["x-twilio-signature"],
    )
    assert _signed_for(got[2])
    original = emulator.callbacks()[1]
    assert replayed == {**original, "index": 2}
    with pytest.raises(KeyError):
        emulator.replay_callback(3)


def test_callbacks_to_a_closed_port_are_recorded_as_errors_and_the_call_still_progresses(
    emulator: TwilioEmulator,
) -> None:
    # Given a status callback URL nobody listens on
    url = _closed_port_url()

    # When a call is placed, answered and hung up
    call = emulator.place_inbound("bob", url)
    emulator.answer(call["child"])
    emulator.hang_up(call["child"])

    # Then nothing raised, every delivery is recorded as failed, and the call table followed the call
    records = emulator.callbacks()
    assert len(records) == 4
    assert all(r["status_code"] is None and r["error"] for r in records)
    assert "ConnectionRefusedError" in records[0]["error"]
    assert {c["status"] for c in emulator.calls()} == {"completed"}


def test_receiver_error_status_is_recorded_as_the_status_code(
    emulator: TwilioEmulator, receiver: CallbackReceiver
) -> None:
    # Given a receiver that rejects callbacks with 403 (as the bridge does for a bad signature)
    receiver.status = 403

    # When a call is placed
    emulator.place_inbound("bob", receiver.url())

    # Then the deliveries are recorded with that status and no error
    assert [(r["status_code"], r["error"]) for r in emulator.callbacks()] == [(403, None), (403, None)]


def test_callbacks_are_signed_with_the_auth_token_of_the_calls_account(receiver: CallbackReceiver) -> None:
    # Given an emulator with two accounts
    accounts = [Account(ACCOUNT_SID, AUTH_TOKEN), Account(OTHER_ACCOUNT_SID, OTHER_AUTH_TOKEN)]
    with TwilioEmulator(accounts).start() as emu:
        # When a call is placed on the second account
        emu.place_outbound("alice", receiver.url("/twilio/call-status" + DIAL_QUERY), account_sid=OTHER_ACCOUNT_SID)

    # Then its callbacks name that account and validate only with its auth token
    got = receiver.received()
    assert {item.form["AccountSid"] for item in got} == {OTHER_ACCOUNT_SID}
    assert all(_signed_for(item, OTHER_AUTH_TOKEN) for item in got)
    assert not any(_signed_for(item, AUTH_TOKEN) for item in got)


def test_reset_forgets_callbacks_and_stops_holding(emulator: TwilioEmulator, receiver: CallbackReceiver) -> None:
    # Given held callbacks of a placed call
    emulator.hold_callbacks()
    emulator.place_inbound("bob", receiver.url())

    # When the emulator is reset
    emulator.reset()

    # Then calls and callbacks are gone, and new callbacks are sent at once, numbered from 0 again
    assert emulator.calls() == []
    assert emulator.callbacks() == []
    emulator.place_inbound("bob", receiver.url())
    assert _statuses(receiver.received()) == ["initiated", "ringing"]
    assert [r["index"] for r in emulator.callbacks()] == [0, 1]


# -- simulated calls through the control API over HTTP ------------------------------------------------


def test_control_drives_an_inbound_call_over_http(
    emulator: TwilioEmulator, control: ControlClient, receiver: CallbackReceiver
) -> None:
    # Given an inbound call placed over the control API with a chosen caller
    call = control.post(
        "/calls/inbound", {"identity": "bob", "status_callback": receiver.url(), "caller": "+15552220000"}
    )

    # When it is answered and hung up over HTTP
    answered = control.post(f"/calls/{call['child']}/answer")
    ended = control.post(f"/calls/{call['child']}/hangup", {"status": "completed"})

    # Then the same signed callbacks were sent as in-process, and the control API reports them
    got = receiver.received()
    assert _statuses(got) == ["initiated", "ringing", "in-progress", "completed"]
    assert {item.form["From"] for item in got} == {"+15552220000"}
    assert all(_signed_for(item) for item in got)
    assert answered["status"] == "in-progress"
    assert (ended["child"]["status"], ended["parent"]["status"]) == ("completed", "completed")
    assert control.get("/callbacks") == emulator.callbacks()
    assert control.get("/calls") == emulator.calls()


def test_control_drives_an_outbound_call_with_events_and_app_status_callback_over_http(
    control: ControlClient, receiver: CallbackReceiver
) -> None:
    # Given an outbound call placed over HTTP, reporting only answered and completed for the child
    dial_url = receiver.url("/twilio/call-status" + DIAL_QUERY)
    app_url = receiver.url("/twilio/call-status")
    call = control.post(
        "/calls/outbound",
        {
            "identity": "alice",
            "status_callback": dial_url,
            "app_status_callback": app_url,
            "to": "+15558887777",
            "events": ["answered", "completed"],
        },
    )

    # When the callee answers and the SDK user hangs up with a final status
    control.post(f"/calls/{call['child']}/answer")
    control.post(f"/calls/{call['parent']}/hangup", {"status": "completed"})

    # Then the child's two callbacks went to DIAL_URL and the parent's completed to APP_URL
    got = receiver.received()
    assert [(item.url, item.form["CallStatus"], item.form.get("SequenceNumber")) for item in got] == [
        (dial_url, "in-progress", "0"),
        (dial_url, "completed", "1"),
        (app_url, "completed", None),
    ]
    assert got[2].form["From"] == "client:alice"
    assert {item.form["To"] for item in got} == {"+15558887777"}
    assert all(_signed_for(item) for item in got)


def test_control_holds_releases_and_replays_callbacks_over_http(
    control: ControlClient, receiver: CallbackReceiver
) -> None:
    # Given callbacks held over HTTP while a call is placed
    control.post("/callbacks/hold", {"hold": True})
    control.post("/calls/inbound", {"identity": "bob", "status_callback": receiver.url()})
    assert receiver.received() == []

    # When they are released in reverse order, holding is turned off, and the first is replayed
    released = control.post("/callbacks/release", {"order": [1, 0]})
    control.post("/callbacks/hold", {"hold": False})
    replayed = control.post("/callbacks/0/replay")

    # Then the receiver got ringing, initiated, then initiated again with the same signature
    got = receiver.received()
    assert _statuses(got) == ["ringing", "initiated", "initiated"]
    assert got[2].headers["x-twilio-signature"] == got[1].headers["x-twilio-signature"]
    assert [(r["index"], r["status_code"]) for r in released] == [(1, 204), (0, 204)]
    assert (replayed["index"], replayed["status_code"], replayed["held"]) == (2, 204, False)


def test_control_callback_endpoints_answer_with_documented_status_codes(
    emulator: TwilioEmulator, receiver: CallbackReceiver
) -> None:
    # Given the raw control API
    base = f"{emulator.base_url}/_emulator"

    def post(path: str, body: Any = None) -> requests.Response:
        return requests.post(base + path, json=body, timeout=30)

    # When the documented calls are made, Then each answers with its status code
    placed = post("/calls/inbound", {"identity": "bob", "status_callback": receiver.url()})
    assert placed.status_code == 201
    child = placed.json()["child"]
    outbound = post("/calls/outbound", {"identity": "alice", "status_callback": receiver.url()})
    assert outbound.status_code == 201
    assert post(f"/calls/{child}/answer").status_code == 200
    assert post("/callbacks/hold", {"hold": True}).status_code == 204
    assert post(f"/calls/{child}/hangup", {"status": "completed"}).status_code == 200
    # 0-1 inbound child, 2-3 outbound child, 4 answered, 5 held completed (an inbound parent sends none)
    assert post("/callbacks/0/replay").status_code == 200
    release = post("/callbacks/release", {"order": [6, 5]})
    assert (release.status_code, [r["index"] for r in release.json()]) == (200, [6, 5])
    listed = requests.get(base + "/callbacks", timeout=10)
    assert (listed.status_code, len(listed.json())) == (200, 7)
    # And bad requests are 400, unknown SIDs and indexes 404, wrong methods 405
    assert post("/calls/inbound", {"status_callback": receiver.url()}).status_code == 400
    assert post("/calls/inbound", {"identity": "bob", "statusCallback": receiver.url()}).status_code == 400
    assert post("/calls/outbound", {"identity": "a", "status_callback": "file:///etc/passwd"}).status_code == 400
    assert post(f"/calls/{child}/hangup", {"status": "ringing"}).status_code == 400
    assert post("/callbacks/hold", {"hold": "yes"}).status_code == 400
    assert post("/callbacks/release", {"order": "0"}).status_code == 400
    assert post("/callbacks/release", {"order": [[0]]}).status_code == 400
    assert post("/calls/inbound", {"identity": "bob", "status_callback": "http://127.0.0.1:99999/"}).status_code == 400
    assert post("/calls/" + "CA" + "0" * 32 + "/answer").status_code == 404
    assert post("/callbacks/999/replay").status_code == 404
    assert post("/callbacks/abc/replay").status_code == 404
    assert post("/callbacks/release", {"order": [999]}).status_code == 404
    assert requests.get(base + "/calls/inbound", timeout=10).status_code == 405


def test_control_errors_are_400_and_404_with_the_reason(control: ControlClient, receiver: CallbackReceiver) -> None:
    # Given the control client
    unknown_sid = "CA" + "0" * 32

    # When invalid or unknown things are asked for over HTTP
    empty_identity = control.call("POST", "/calls/inbound", {"identity": "", "status_callback": receiver.url()})
    bad_event = control.call(
        "POST", "/calls/outbound", {"identity": "alice", "status_callback": receiver.url(), "events": ["hangup"]}
    )
    unknown_call = control.call("POST", f"/calls/{unknown_sid}/hangup", {"status": "completed"})
    unknown_callback = control.call("POST", "/callbacks/0/replay")

    # Then invalid input is 400 and unknown calls and callbacks 404, each with the reason
    assert empty_identity == (400, {"error": "'identity' must be a non-empty string"})
    assert bad_event[0] == 400
    assert bad_event[1]["error"].startswith("invalid status callback event 'hangup'")
    assert unknown_call == (404, {"error": f"unknown call {unknown_sid}"})
    assert unknown_callback == (404, {"error": "unknown callback 0"})


def test_control_reset_clears_callbacks_and_hold_mode(control: ControlClient, receiver: CallbackReceiver) -> None:
    # Given held callbacks over HTTP
    control.post("/callbacks/hold", {"hold": True})
    control.post("/calls/inbound", {"identity": "bob", "status_callback": receiver.url()})

    # When the emulator is reset over HTTP
    control.post("/reset")

    # Then no callbacks remain and new ones are sent straight away
    assert control.get("/callbacks") == []
    control.post("/calls/inbound", {"identity": "bob", "status_callback": receiver.url()})
    assert _statuses(receiver.received()) == ["initiated", "ringing"]


# -- lifecycle ----------------------------------------------------------------------------------------


def test_emulator_rejects_malformed_account_sid() -> None:
    # Given an account SID that does not match ^AC[0-9a-fA-F]{32}$
    # When an Account is built with it
    # Then construction fails
    with pytest.raises(ValueError, match="account_sid"):
        Account("AC123", "token")


def test_stopped_emulator_refuses_connections() -> None:
    # Given an emulator that was started and then stopped
    emu = TwilioEmulator([Account(ACCOUNT_SID, AUTH_TOKEN)]).start()
    base_url = emu.base_url
    emu.stop()

    # When its control API is called
    # Then the connection is refused
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{base_url}/_emulator/health", timeout=10)


def test_module_runs_standalone_until_interrupted() -> None:
    # Given the emulator started as `python -m local.twilio_emulator` on a free port
    # Credentials travel in the environment (the CLI's documented fallback), keeping argv literal.
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "AWS_EC2_METADATA_DISABLED": "true",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
    }
    lines: queue.Queue[str] = queue.Queue()
    with subprocess.Popen(
        [sys.executable, "-m", "local.twilio_emulator", "--port", "0"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stderr is not None
        stderr = proc.stderr

        def pump_stderr() -> None:
            for line in stderr:
                lines.put(line)

        # A reader thread lets the test wait for the "listening on" line with a timeout.
        pump = threading.Thread(target=pump_stderr, daemon=True)
        pump.start()
        try:
            base_url = None
            while base_url is None:
                found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", lines.get(timeout=20))
                base_url = found.group(1) if found else None

            # When it is health-checked and then interrupted with Ctrl-C
            healthy = ControlClient(base_url).call("GET", "/health") == (200, {"ok": True})
            proc.send_signal(signal.SIGINT)
            returncode = proc.wait(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            pump.join(timeout=20)

    # Then it served requests and exited cleanly
    assert healthy
    assert returncode == 0
