"""User Defined Messages (POST .../Calls/{CallSid}/UserDefinedMessages.json) sent by the real twilio
client: the resource Twilio returns, what the emulator records, validation, and idempotency keys."""

import email.utils
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
import requests
from emulator_helpers import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    KX_SID,
    _post_raw,
    _send_udm,
    _udm_url,
)
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from local.twilio_emulator import TwilioEmulator

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


@pytest.mark.parametrize("call_sid", ["CA123", "CX" + "a" * 32, "CA" + "g" * 32, "CA" + "a" * 33])
def test_malformed_call_sid_is_404(client: Client, call_sid: str) -> None:
    # Given a call SID that does not match ^CA[0-9a-fA-F]{32}$
    # When a UDM is sent to it
    with pytest.raises(TwilioRestException) as excinfo:
        _send_udm(client, call_sid)

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
