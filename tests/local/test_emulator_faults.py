"""Injected faults on UDM requests (status, Retry-After, latency, dropped connections), in-process, and
the counters that see every UDM request, faulted or not."""

import time
from typing import Any

import pytest
import requests
from emulator_helpers import (
    ACCOUNT_SID,
    KX_SID,
    _post_raw,
    _send_udm,
)
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from local.twilio_emulator import TwilioEmulator

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
    assert emulator.stats() == {
        "udm_requests": 1,
        "udm_created": 0,
        "udm_replayed": 0,
        "faults_injected": 1,
        "throttled": 0,
        "peak_in_flight": 1,
    }


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
    assert stats == {
        "udm_requests": 4,
        "udm_created": 1,
        "udm_replayed": 1,
        "faults_injected": 1,
        "throttled": 0,
        "peak_in_flight": 1,
    }
