"""Simulated calls and their status callbacks driven over the control API (/_emulator/calls/...,
/_emulator/callbacks/...), and the status codes and reasons it answers with."""

from typing import Any

import requests
from emulator_client import ControlClient
from emulator_helpers import (
    DIAL_QUERY,
    CallbackReceiver,
    _signed_for,
    _statuses,
)

from local.twilio_emulator import TwilioEmulator


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
    assert (
        post("/calls/inbound", {"identity": "bob", "status_callback": receiver.url(), "caller": 5}).status_code == 400
    )
    assert post("/calls/outbound", {"identity": "a", "status_callback": receiver.url(), "to": "bob"}).status_code == 400
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
