"""The control API over HTTP (/_emulator/...): health, calls and their status, accepted messages,
counters, faults and reset, as a process without the in-process emulator drives them."""

import re

import pytest
import requests
from emulator_client import ControlClient
from emulator_helpers import (
    ACCOUNT_SID,
    KX_SID,
    _send_udm,
)
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from local.twilio_emulator import TwilioEmulator

CA_SID = re.compile(r"^CA[0-9a-f]{32}$")


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
    assert stats == {
        "udm_requests": 1,
        "udm_created": 1,
        "udm_replayed": 0,
        "faults_injected": 0,
        "throttled": 0,
        "peak_in_flight": 1,
    }


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
    assert control.get("/stats") == {
        "udm_requests": 0,
        "udm_created": 0,
        "udm_replayed": 0,
        "faults_injected": 0,
        "throttled": 0,
        "peak_in_flight": 0,
    }
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
