"""No poison: every signed input gets a clear 4xx answer, never a 5xx a sender would retry for days.

Each test reproduces one finding of the attacker's probe (issue 11) through the real handlers.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from helpers import EVENTS, Bridge, event_of, new_call_sid, new_event_body, new_id, post_callback, status_params

from local.senders import github_headers

pytestmark = pytest.mark.integration


def problem(reply: Any, status: int, code: str) -> dict[str, Any]:
    assert reply.status == status, reply.body
    assert reply.content_type == "application/problem+json"
    body: dict[str, Any] = reply.json()
    assert body["code"] == code
    return body


def raw_event(to: str, data_json: str, **fields: Any) -> str:
    """An envelope whose `data` is given as JSON text, so it can hold what json.dumps never writes."""
    envelope = json.dumps({**new_event_body(to), "type": "test.poison", **fields, "data": "__DATA__"})
    return envelope.replace('"__DATA__"', data_json)


# -- 1. lone surrogates -----------------------------------------------------------------------------


def test_lone_surrogate_in_data_is_a_400_not_a_500(bridge: Bridge) -> None:
    # Given a live call and a signed event whose data holds a lone surrogate escape
    key, _ = bridge.live_call()
    raw = raw_event(key, '{"s": "\\ud800"}')

    # When it arrives
    reply = bridge.post_event(raw)

    # Then it is a 400 that says the body is not Unicode text, and nothing reaches Twilio
    assert "surrogate" in problem(reply, 400, "malformed_body")["detail"]
    assert bridge.stack.emulator.messages() == []


def test_lone_surrogate_in_the_recipient_is_a_400_and_logs_cleanly(
    bridge: Bridge, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = json.dumps(new_event_body("identity:x")).replace("identity:x", "identity:\\udc80")
    reply = bridge.post_event(raw)
    problem(reply, 400, "malformed_body")
    assert "Logging error" not in capsys.readouterr().err


def test_surrogate_pairs_are_text_and_delivered(bridge: Bridge) -> None:
    key, _ = bridge.live_call()
    reply = bridge.post_event(raw_event(key, '{"emoji": "\\ud83d\\ude00"}'))
    assert reply.status == 200, reply.body


# -- 2. nesting depth -------------------------------------------------------------------------------


@pytest.mark.parametrize("levels", [485, 1000, 100_000])
def test_deep_nesting_is_a_400_naming_the_depth_limit(bridge: Bridge, levels: int) -> None:
    key, _ = bridge.live_call()
    reply = bridge.post_event(raw_event(key, '{"a":' * levels + "1" + "}" * levels))
    body = problem(reply, 400, "input_limit_exceeded")
    assert (body["exceeded"], body["limit"]) == ("depth", 64)


def test_nesting_within_the_limit_is_delivered_and_brackets_in_strings_do_not_count(bridge: Bridge) -> None:
    key, _ = bridge.live_call()
    data = '{"text": "' + "[{" * 200 + '", "n": ' + '{"a":' * 60 + "1" + "}" * 60 + "}"
    reply = bridge.post_event(raw_event(key, data))
    assert reply.status == 200, reply.body


def test_body_over_the_size_limit_is_a_413(bridge: Bridge) -> None:
    key, _ = bridge.live_call()
    reply = bridge.post_event(raw_event(key, json.dumps({"pad": "x" * 1_048_576})))
    body = problem(reply, 413, "body_too_large")
    assert body["limit"] == 1_048_576


# -- 3. numbers -------------------------------------------------------------------------------------


@pytest.mark.parametrize("number", ["1e400", "-1e400", "NaN", "Infinity"])
def test_non_finite_numbers_are_a_400_and_never_reach_twilio(bridge: Bridge, number: str) -> None:
    key, _ = bridge.live_call()
    reply = bridge.post_event(raw_event(key, '{"x": ' + number + "}"))
    problem(reply, 400, "malformed_body")
    assert bridge.stack.emulator.messages() == []


# -- 4. whole-string patterns -----------------------------------------------------------------------


def test_type_with_a_trailing_newline_is_a_422(bridge: Bridge) -> None:
    key, _ = bridge.live_call()
    reply = bridge.post_event(new_event_body(key, type="crm.customer.identified\n"))
    body = problem(reply, 422, "schema_violation")
    assert body["errors"][0]["pointer"] == "/type"
    assert bridge.stack.emulator.messages() == []


def test_timestamp_with_a_trailing_newline_is_a_422(bridge: Bridge) -> None:
    key, _ = bridge.live_call()
    reply = bridge.post_event(new_event_body(key, timestamp="2026-11-28T09:30:00Z\n"))
    assert problem(reply, 422, "schema_violation")["errors"][0]["pointer"] == "/timestamp"


def test_put_calls_with_a_trailing_newline_in_the_call_sid_is_a_422(bridge: Bridge) -> None:
    reply = bridge.calls("PUT", f"identity:{new_id()}", {"call_sid": new_call_sid() + "\n"})
    body = problem(reply, 422, "schema_violation")
    assert body["errors"][0]["pointer"] == "/call_sid"


def test_status_callback_with_a_trailing_newline_in_the_call_sid_is_a_400(bridge: Bridge) -> None:
    sid = new_call_sid() + "\n"
    params = status_params(sid, "ringing", to="client:nl", from_="+15550001111", parent=new_call_sid())
    problem(post_callback(bridge, params), 400, "invalid_callback")


def test_recipient_key_with_a_control_character_is_a_422(bridge: Bridge) -> None:
    reply = bridge.post_event(new_event_body("identity:alice\n"))
    assert "`to`" in problem(reply, 422, "schema_violation")["errors"][0]["message"]


# -- 5. SequenceNumber ------------------------------------------------------------------------------


def test_signed_callback_with_a_non_ascii_digit_sequence_number_is_applied_not_a_500(bridge: Bridge) -> None:
    # Given a signed ringing callback whose SequenceNumber is "²" (a digit to str.isdigit, not to int)
    sid = new_call_sid()
    params = status_params(sid, "ringing", to="client:sup", from_="+15550001111", parent=new_call_sid(), seq=0)
    params["SequenceNumber"] = "²"

    # When Twilio's callback arrives
    reply = post_callback(bridge, params)

    # Then it is applied without a sequence number
    assert reply.status == 204, reply.body
    assert bridge.calls("GET", "identity:sup").json()["call_sid"] == sid


# -- 6. ID lengths ----------------------------------------------------------------------------------


def test_default_webhook_id_over_256_characters_is_a_422_and_never_reaches_twilio(bridge: Bridge) -> None:
    key, _ = bridge.live_call()
    reply = bridge.post_event(new_event_body(key), event_id="e" * 9000)
    assert "`event_id`" in problem(reply, 422, "schema_violation")["errors"][0]["message"]
    assert bridge.stack.emulator.messages() == []


# -- 7. idempotency keys across sources -------------------------------------------------------------


def github_delivery(login: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((EVENTS / "body-github-pull-request.json").read_text())
    body["sender"]["login"] = login
    return body


def test_default_id_shaped_like_a_github_key_never_collides_with_that_github_delivery(bridge: Bridge) -> None:
    # Given alice on a call, a GitHub delivery D, and a default event whose ID is "github:D"
    login = f"user-{new_id()[4:14]}"
    key, _ = bridge.live_call(f"identity:{login}")
    delivery = new_id()
    raw = json.dumps(github_delivery(login))
    secret = bridge.stack.credentials.source_secrets["github"]

    # When both arrive, in either order
    by_default = bridge.post_event(new_event_body(key), event_id=f"github:{delivery}")
    by_github = bridge.post_source("github", raw, github_headers(raw, secret, delivery=delivery))

    # Then both are delivered, as two messages under two keys
    assert (by_default.status, by_github.status) == (200, 200), (by_default.body, by_github.body)
    keys = {event_of(message) for message in bridge.stack.emulator.messages()}
    assert len(keys) == 2
    assert f"default:github:{delivery}" in keys


def test_default_ids_without_a_colon_keep_their_bare_key(bridge: Bridge) -> None:
    key, _ = bridge.live_call()
    event_id = new_id()
    assert bridge.post_event(new_event_body(key), event_id=event_id).status == 200
    assert len(bridge.messages_for(event_id)) == 1


# -- 8. GitHub replays ------------------------------------------------------------------------------


def test_captured_github_delivery_resent_with_a_new_delivery_id_makes_no_second_message(bridge: Bridge) -> None:
    # Given a GitHub delivery that was delivered
    login = f"user-{new_id()[4:14]}"
    bridge.live_call(f"identity:{login}")
    raw = json.dumps(github_delivery(login))
    secret = bridge.stack.credentials.source_secrets["github"]
    first = bridge.post_source("github", raw, github_headers(raw, secret))
    assert first.status == 200, first.body

    # When an attacker resends the captured body and signature under a new X-GitHub-Delivery
    replay = bridge.post_source("github", raw, github_headers(raw, secret))

    # Then it is the first answer, replayed, and Twilio holds one message
    assert replay.status == 200
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json() == first.json()
    assert len(bridge.stack.emulator.messages()) == 1


@pytest.mark.parametrize("event", ["pull_request\n", "<script>", "", "x" * 200])
def test_unsigned_github_event_header_is_validated_like_a_signed_field(bridge: Bridge, event: str) -> None:
    login = f"user-{new_id()[4:14]}"
    bridge.live_call(f"identity:{login}")
    raw = json.dumps(github_delivery(login))
    headers = github_headers(raw, bridge.stack.credentials.source_secrets["github"], event=event)
    reply = bridge.post_source("github", raw, headers)
    assert "`type`" in problem(reply, 422, "schema_violation")["errors"][0]["message"]
    assert bridge.stack.emulator.messages() == []


# -- 9. invalid UTF-8 -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("media_type", "status", "code"),
    [("application/json", 400, "malformed_body"), ("text/plain", 415, "unsupported_media_type")],
)
def test_signed_invalid_utf8_gets_a_true_answer(bridge: Bridge, media_type: str, status: int, code: str) -> None:
    # Given a correctly signed body that is not UTF-8
    reply = bridge.post_event(b'{"type": "\xff"}', headers={"content-type": media_type})

    # Then it is authentic, so the answer is about the body: its media type or its encoding
    problem(reply, status, code)


def test_unsigned_invalid_utf8_is_still_a_401_that_says_no_signature_matched(bridge: Bridge) -> None:
    reply = bridge.post_event(b"\xff\xfe", secret="whsec_" + "QUJD" * 8)
    assert problem(reply, 401, "invalid_signature")["detail"] == "No signature matched."


def test_invalid_utf8_with_a_stale_timestamp_is_a_401(bridge: Bridge) -> None:
    reply = bridge.post_event(b"\xff", timestamp=time.time() - 3600)
    assert "tolerance" in problem(reply, 401, "invalid_signature")["detail"]


# -- 11. small ones ---------------------------------------------------------------------------------


def test_put_calls_schema_errors_are_titled_for_the_registration(bridge: Bridge) -> None:
    reply = bridge.calls("PUT", "identity:title", {"call_sid": "nope"})
    assert problem(reply, 422, "schema_violation")["title"] == "The call registration does not match its schema"


def test_hold_seconds_written_as_a_float_parks_with_an_integer_expiry(bridge: Bridge) -> None:
    reply = bridge.post_event(new_event_body(f"identity:{new_id()}", hold_seconds=1.0))
    assert reply.status == 202, reply.body
    assert type(reply.json()["expires_at"]) is int


def test_4301_digit_integer_is_a_400_naming_the_bridges_limit_not_pythons(bridge: Bridge) -> None:
    key, _ = bridge.live_call()
    body = problem(bridge.post_event(raw_event(key, '{"n": ' + "1" * 4301 + "}")), 400, "input_limit_exceeded")
    assert (body["exceeded"], body["limit"]) == ("number_length", 100)
    assert "set_int_max_str_digits" not in body["detail"]
