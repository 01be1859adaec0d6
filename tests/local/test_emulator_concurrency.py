"""The account concurrency limit: requests in flight beyond it get Twilio's 429 (20429) with Retry-After,
a slot frees when its request is answered however it ends, and the stats count the 429s and the peak."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from emulator_client import ControlClient
from emulator_helpers import ACCOUNT_SID, _post_raw, _send_udm
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from local.twilio_emulator import TwilioEmulator


def _post_together(emulator: TwilioEmulator, call_sid: str, count: int) -> list[requests.Response]:
    """`count` UDM POSTs released at once, each on its own connection."""
    start = threading.Barrier(count)

    def post(index: int) -> requests.Response:
        start.wait()
        return _post_raw(emulator, call_sid, {"Content": "{}", "IdempotencyKey": f"k-{index}"})

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(post, range(count)))


def test_requests_beyond_the_limit_get_429_with_retry_after_while_the_others_are_in_flight(
    emulator: TwilioEmulator,
) -> None:
    # Given a limit of 2 in flight, a retry hint of 3 s, and answers that take a second
    call = emulator.create_call(ACCOUNT_SID)
    emulator.set_concurrency_limit(2, retry_after=3)
    emulator.set_udm_latency(1000)

    # When 5 UDMs arrive at once
    replies = _post_together(emulator, call["sid"], 5)

    # Then 2 are created and 3 are refused as Twilio refuses them, with the hint
    assert sorted(reply.status_code for reply in replies) == [201, 201, 429, 429, 429]
    refused = [reply for reply in replies if reply.status_code == 429]
    assert all(reply.headers["Retry-After"] == "3" for reply in refused)
    assert refused[0].json() == {
        "code": 20429,
        "message": "Too Many Requests",
        "more_info": "https://www.twilio.com/docs/errors/20429",
        "status": 429,
    }
    assert len(emulator.messages()) == 2
    stats = emulator.stats()
    assert (stats["udm_requests"], stats["udm_created"], stats["throttled"], stats["peak_in_flight"]) == (5, 2, 3, 2)


def test_a_slot_frees_when_its_request_is_answered_whatever_the_answer(
    emulator: TwilioEmulator, client: Client
) -> None:
    # Given a limit of one request in flight
    call = emulator.create_call(ACCOUNT_SID)
    emulator.set_concurrency_limit(1)

    # When requests follow one another: a rejected one, a faulted one, a dropped one, then a good one
    assert _post_raw(emulator, call["sid"], {"Content": "not json"}).status_code == 400
    emulator.add_fault([{"status": 503}, {"drop": "before"}])
    assert _post_raw(emulator, call["sid"], {"Content": "{}"}).status_code == 503
    with pytest.raises(requests.exceptions.ConnectionError):
        _post_raw(emulator, call["sid"], {"Content": "{}"})
    message = _send_udm(client, call["sid"], {"n": 1})

    # Then none of them was throttled: each freed its slot
    assert emulator.stats()["throttled"] == 0
    # The server frees a slot just after writing its answer, so the client may read it a moment early
    deadline = time.monotonic() + 5
    while emulator.concurrency()["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert emulator.concurrency()["in_flight"] == 0
    assert [m["sid"] for m in emulator.messages()] == [message.sid]


def test_the_twilio_client_sees_error_20429(emulator: TwilioEmulator, client: Client) -> None:
    # Given a limit of one, held by a slow request on another thread
    call = emulator.create_call(ACCOUNT_SID)
    emulator.set_concurrency_limit(1)
    emulator.set_udm_latency(1500)
    slow = threading.Thread(target=_post_raw, args=(emulator, call["sid"], {"Content": "{}"}))
    slow.start()
    try:
        _wait_until_in_flight(emulator, 1)

        # When the client sends a UDM meanwhile
        with pytest.raises(TwilioRestException) as refused:
            _send_udm(client, call["sid"])
    finally:
        slow.join()

    # Then it is refused with Twilio's rate-limit error, and the slow one was created
    assert (refused.value.status, refused.value.code) == (429, 20429)
    assert len(emulator.messages()) == 1


def test_subscription_requests_take_a_slot_too(emulator: TwilioEmulator, client: Client) -> None:
    # Given a limit of one, held by a slow UDM
    call = emulator.create_call(ACCOUNT_SID)
    emulator.set_concurrency_limit(1)
    emulator.set_udm_latency(1500)
    slow = threading.Thread(target=_post_raw, args=(emulator, call["sid"], {"Content": "{}"}))
    slow.start()
    try:
        _wait_until_in_flight(emulator, 1)

        # When a subscription is created meanwhile
        with pytest.raises(TwilioRestException) as refused:
            client.calls(call["sid"]).user_defined_message_subscriptions.create(callback="https://example.com/x")
    finally:
        slow.join()

    # Then the account's limit refused it too
    assert refused.value.status == 429
    assert emulator.subscriptions.every() == []
    assert emulator.stats()["throttled"] == 1


def test_without_a_limit_nothing_is_refused_and_the_peak_is_counted(emulator: TwilioEmulator) -> None:
    # Given no limit and answers that take half a second
    call = emulator.create_call(ACCOUNT_SID)
    emulator.set_udm_latency(500)

    # When 4 UDMs arrive at once
    replies = _post_together(emulator, call["sid"], 4)

    # Then all are created, and the peak saw more than one in flight
    assert [reply.status_code for reply in replies] == [201] * 4
    assert emulator.stats()["throttled"] == 0
    assert emulator.stats()["peak_in_flight"] > 1


def test_counters_restart_for_a_new_measurement(emulator: TwilioEmulator) -> None:
    # Given a throttled request counted
    call = emulator.create_call(ACCOUNT_SID)
    emulator.set_concurrency_limit(1)
    emulator.set_udm_latency(1000)
    assert sorted(r.status_code for r in _post_together(emulator, call["sid"], 2)) == [201, 429]

    # When the counters restart
    emulator.reset_concurrency_counters()

    # Then the 429s and the peak count from now, and the limit stays
    assert (emulator.stats()["throttled"], emulator.stats()["peak_in_flight"]) == (0, 0)
    assert emulator.concurrency()["limit"] == 1


# -- the control API ----------------------------------------------------------------------------------


def test_control_sets_reads_and_resets_the_limit(control: ControlClient, emulator: TwilioEmulator) -> None:
    # When a limit is set over HTTP
    assert control.post("/concurrency", {"limit": 20, "retry_after": 2}) is None

    # Then it reads back, and the in-process emulator has it
    expected = {"limit": 20, "retry_after": 2, "in_flight": 0, "peak_in_flight": 0, "throttled": 0}
    assert control.get("/concurrency") == expected == emulator.concurrency()

    # And null turns it off, as a reset does with everything else
    control.post("/concurrency", {"limit": None})
    assert control.get("/concurrency")["limit"] is None
    control.post("/concurrency", {"limit": 5})
    control.post("/reset")
    assert control.get("/concurrency") == {**expected, "limit": None, "retry_after": 1}


@pytest.mark.parametrize(
    "body",
    [{"limit": 0}, {"limit": -1}, {"limit": "20"}, {"limit": True}, {"limit": 2, "retry_after": -1}, {}, {"max": 2}],
)
def test_control_refuses_an_invalid_limit_and_keeps_the_old_one(
    control: ControlClient, emulator: TwilioEmulator, body: dict[str, object]
) -> None:
    # Given a limit
    emulator.set_concurrency_limit(3)

    # When an invalid one is posted
    status, answer = control.call("POST", "/concurrency", body)

    # Then it is a 400 that says why, and the limit is unchanged
    assert status == 400
    assert answer["error"]
    assert emulator.concurrency()["limit"] == 3


def _wait_until_in_flight(emulator: TwilioEmulator, count: int, timeout: float = 5.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while emulator.concurrency()["in_flight"] < count:
        assert time.monotonic() < deadline, "the slow request never arrived"
        time.sleep(0.01)
