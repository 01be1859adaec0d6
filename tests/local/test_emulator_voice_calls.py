"""Simulated Voice SDK calls, in-process: inbound to and outbound from a client identity, answer and
hang up, the status callbacks each leg sends and where, and UDMs to a leg as its status changes."""

import email.utils
import re
from datetime import UTC
from typing import Any

import pytest
from emulator_helpers import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CHILD_PARAMS,
    DIAL_QUERY,
    KX_SID,
    OTHER_ACCOUNT_SID,
    OTHER_AUTH_TOKEN,
    CallbackReceiver,
    Received,
    _call_status,
    _send_udm,
    _signed_for,
    _statuses,
    _twilio_client,
)
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from local.twilio_emulator import TwilioEmulator


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
        assert item.form["From"] == item.form["Caller"] == call["caller"]
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
        assert (item.form["From"], item.form["To"]) == ("+15550001111", call["to"])
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
    assert (parent.form["To"], parent.form["Called"]) == (call["to"], call["to"])
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
        ({"caller": "555-1234"}, r"E\.164"),
        ({"caller": "bob"}, "caller"),
        ({"caller": ""}, "caller"),
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


def test_each_call_has_a_caller_and_a_dialled_number_of_its_own_in_e164(
    emulator: TwilioEmulator, receiver: CallbackReceiver
) -> None:
    # Given two inbound and two outbound calls placed without naming a number
    inbound = [emulator.place_inbound("bob", receiver.url()) for _ in range(2)]
    outbound = [emulator.place_outbound("alice", receiver.url()) for _ in range(2)]

    # Then each has a number of its own, E.164 as Twilio reports PSTN parties, never the Twilio number
    numbers = [call["caller"] for call in inbound] + [call["to"] for call in outbound]
    assert len(set(numbers)) == 4
    assert all(re.fullmatch(r"\+1555\d{7}", number) for number in numbers), numbers
    assert "+15550001111" not in numbers
    # And the callbacks carry them: the caller's From on the <Client> leg, the dialled To on the <Number> leg
    by_call = {item.form["CallSid"]: item.form for item in receiver.received()}
    assert [by_call[call["child"]]["From"] for call in inbound] == numbers[:2]
    assert [by_call[call["child"]]["To"] for call in outbound] == numbers[2:]


@pytest.mark.parametrize(
    "caller", ["anonymous", "Restricted", "client:carol", "sip:carol@example.com", "+442079460958"]
)
def test_a_named_caller_is_what_the_client_legs_callbacks_carry(
    emulator: TwilioEmulator, receiver: CallbackReceiver, caller: str
) -> None:
    # Given a caller who withheld their number, another SDK user, a SIP caller or a chosen number
    call = emulator.place_inbound("bob", receiver.url(), caller=caller)

    # Then the client leg's callbacks carry it as From and Caller, as Twilio passes it on
    assert call["caller"] == caller
    assert {(item.form["From"], item.form["Caller"]) for item in receiver.received()} == {(caller, caller)}


@pytest.mark.parametrize("to", ["5557654321", "client:bob", "anonymous", ""])
def test_an_outbound_call_dials_only_an_e164_number(
    emulator: TwilioEmulator, receiver: CallbackReceiver, to: str
) -> None:
    with pytest.raises(ValueError, match=r"E\.164"):
        emulator.place_outbound("alice", receiver.url(), to=to)
    assert emulator.calls() == []
