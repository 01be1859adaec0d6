"""Delivery of signed status callbacks, in-process: held, released in a chosen order, replayed,
failed deliveries recorded, signed with the auth token of the call's account, forgotten on reset."""

import pytest
from emulator_helpers import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    DIAL_QUERY,
    OTHER_ACCOUNT_SID,
    OTHER_AUTH_TOKEN,
    CallbackReceiver,
    _call_status,
    _closed_port_url,
    _signed_for,
    _statuses,
)

from local.twilio_emulator import Account, TwilioEmulator


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
