"""No poison: every signed input gets a clear 4xx answer, never a 5xx a sender would retry for days,
and nothing unsigned decides anything.

Each test reproduces one finding of an attacker's probe (issues 11 and 19) through the real handlers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlencode

import pytest
from helpers import (
    EVENTS,
    Bridge,
    event_of,
    message_params,
    new_call_sid,
    new_event_body,
    new_id,
    new_message_sid,
    owned_call,
    post_callback,
    rfc3339,
    send_message,
    status_params,
)

from bridge.adapters.dynamodb.call_owners import DynamoCallOwners
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


# -- 12. signature headers: one spelling, ASCII only (issue 19) ------------------------------------

ARABIC_INDIC = str.maketrans("0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669")


def test_stripe_timestamp_in_arabic_indic_digits_is_a_401_not_a_500(bridge: Bridge) -> None:
    # Given a Stripe delivery whose t= is now, in Arabic-Indic digits, signed as sent
    raw = (EVENTS / "body-stripe-payment-intent.json").read_text()
    stamp = str(int(time.time())).translate(ARABIC_INDIC)
    secret = bridge.stack.credentials.source_secrets["stripe"].encode()
    mac = hmac.new(secret, stamp.encode() + b"." + raw.encode(), hashlib.sha256).hexdigest()
    headers = {"content-type": "application/json", "stripe-signature": f"t={stamp},v1={mac}"}

    # Then it is a 401, never the 500 a UnicodeEncodeError made
    problem(bridge.post_source("stripe", raw, headers), 401, "invalid_signature")


@pytest.mark.parametrize("spell", [lambda t: "+" + t, lambda t: "0" + t, lambda t: t.translate(ARABIC_INDIC)])
def test_webhook_timestamp_spelled_otherwise_is_a_401_and_reaches_no_one(bridge: Bridge, spell: Any) -> None:
    # Given a signed event whose webhook-timestamp is rewritten: the package would read it as the same number
    key, _ = bridge.live_call()
    stamp = str(int(time.time()))
    reply = bridge.post_event(new_event_body(key), timestamp=int(stamp), headers={"webhook-timestamp": spell(stamp)})

    # Then it is refused, and Twilio never hears of it
    problem(reply, 401, "invalid_signature")
    assert bridge.stack.emulator.messages() == []


# -- 13. POST /twilio/messages: once per Sid, every field it needs (issue 19) -----------------------


def forwarded(bridge: Bridge, sid: str) -> list[Any]:
    bridge.stack.settle()
    return list(bridge.stack.receiver.for_message(sid))


def test_the_same_signed_call_message_three_times_reaches_the_receiver_once(bridge: Bridge) -> None:
    # Given alice's SDK leg and one signed message from it
    _, call_sid = owned_call(bridge.stack)
    sid = new_message_sid()
    params = message_params(call_sid, sid)

    # When it arrives three times
    replies = [send_message(bridge, params) for _ in range(3)]

    # Then each is acknowledged, and the receiver gets it once
    assert [reply.status for reply in replies] == [204, 204, 204]
    assert len(forwarded(bridge, sid)) == 1


def test_a_call_message_whose_content_slid_into_another_name_is_a_400_and_forwards_nothing(bridge: Bridge) -> None:
    # Given a signed message, and the same bytes split otherwise: "Content"+"X" is "Conten"+"tX",
    # so the signature over the sorted names and values still matches
    _, call_sid = owned_call(bridge.stack)
    sid = new_message_sid()
    params = message_params(call_sid, sid, content="X")
    slid = {name: value for name, value in params.items() if name != "Content"} | {"Conten": "tX"}

    # When the rewritten request arrives
    reply = send_message(bridge, params, form=urlencode(slid))

    # Then it is refused for the field it lacks, and nothing is forwarded
    assert "Content" in problem(reply, 400, "invalid_callback")["detail"]
    assert forwarded(bridge, sid) == []


# -- 14. recipient keys never reach internal items (issue 19) ----------------------------------------


def owner(bridge: Bridge, call_sid: str) -> str | None:
    return DynamoCallOwners("CallsTable", bridge.stack.client("dynamodb")).owner(call_sid)


def test_put_calls_naming_a_call_owner_item_is_a_400_and_the_owner_stays(bridge: Bridge) -> None:
    # Given alice's SDK leg, whose owner item is "#call:<CallSid>"
    key, call_sid = owned_call(bridge.stack)

    # When someone registers a call under that item's name (a raw # would end the URL's path)
    reply = bridge.calls("PUT", f"%23call:{call_sid}", {"call_sid": new_call_sid()})

    # Then it is refused with the rule
    assert "not starting with #" in problem(reply, 400, "invalid_request")["detail"]

    # And the owner item still names alice
    assert owner(bridge, call_sid) == key


def test_a_status_callback_whose_key_names_an_internal_item_is_a_400(bridge: Bridge) -> None:
    key, call_sid = owned_call(bridge.stack)
    params = status_params(new_call_sid(), "in-progress", to="+15550002222", from_="client:x", parent=call_sid)
    reply = post_callback(bridge, params, query=urlencode({"key": f"#call:{call_sid}", "leg": "parent"}))
    problem(reply, 400, "invalid_callback")
    assert owner(bridge, call_sid) == key


def test_an_event_to_an_internal_item_is_a_422(bridge: Bridge) -> None:
    _, call_sid = owned_call(bridge.stack)
    reply = bridge.post_event(new_event_body(f"#call:{call_sid}"))
    assert problem(reply, 422, "schema_violation")["errors"][0]["pointer"] == "/to"
    assert bridge.stack.emulator.messages() == []


# -- 15. one time parser (issue 19) ----------------------------------------------------------------


@pytest.mark.parametrize("lower", ["z", "t", "tz"])
def test_an_hour_old_event_with_a_lower_case_t_or_z_is_stale_for_a_call_that_started_now(
    bridge: Bridge, lower: str
) -> None:
    # Given a call that started now, and an event from an hour ago whose time says so in lower case
    key, _ = bridge.live_call()
    stamp = rfc3339(time.time() - 3600)
    for letter in lower:
        stamp = stamp.replace(letter.upper(), letter)

    # When it arrives
    reply = bridge.post_event(new_event_body(key, timestamp=stamp))

    # Then the schema and freshness read the same time: it is stale, and the call never sees it
    assert reply.status == 200, reply.body
    assert reply.json()["status"] == "stale"
    assert bridge.stack.emulator.messages() == []
