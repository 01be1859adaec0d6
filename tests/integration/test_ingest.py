"""POST /events through the real handler: moto's server, the Twilio emulator, real boto3 and twilio clients."""

from __future__ import annotations

import base64
import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from helpers import Bridge, new_event_body, new_id, wait_for

from local.lambda_runtime import http_event
from local.senders import new_webhook_secret
from local.stack import TWILIO_SECRET_NAME, WEBHOOK_SECRET_NAME

pytestmark = pytest.mark.integration


def assert_problem(reply, status: int, code: str) -> dict:  # type: ignore[no-untyped-def]
    assert reply.status == status, reply.body
    assert reply.content_type == "application/problem+json"
    problem = reply.json()
    assert problem["status"] == status
    assert problem["code"] == code
    assert problem["type"] == f"urn:udm-bridge:problem:{code}"
    assert problem["title"]
    assert problem["detail"]
    return problem


# -- 200 ------------------------------------------------------------------------------------------


def test_signed_event_for_a_live_call_is_delivered_as_a_user_defined_message(bridge: Bridge) -> None:
    # Given a recipient on a live call
    key, call_sid = bridge.live_call()
    event_id = new_id()
    body = new_event_body(key)

    # When a signed event for that recipient arrives
    reply = bridge.post_event(body, event_id=event_id)

    # Then the sender learns it was delivered, with Twilio's message SID
    assert reply.status == 200, reply.body
    result = reply.json()
    assert result["status"] == "delivered"
    assert result["event_id"] == event_id
    assert result["call_sid"] == call_sid
    assert result["message_sid"].startswith("KX")
    assert "Idempotent-Replayed" not in reply.headers
    # And Twilio got one UDM on that call, keyed by the event ID, whose Content is the contract's JSON
    [message] = bridge.messages_for(event_id)
    assert message["call_sid"] == call_sid
    assert message["sid"] == result["message_sid"]
    assert json.loads(message["content"]) == {
        "version": 1,
        "id": event_id,
        "type": body["type"],
        "timestamp": body["timestamp"],
        # The envelope names no title of its own: the type's card (cards.json) makes one from the data.
        "title": "Ada Lovelace",
        "summary": "Gold customer",
        "fields": [{"label": "Customer", "value": "cus_1"}, {"label": "Tier", "value": "Gold"}],
        "data": body["data"],
    }


def test_event_for_a_ringing_call_is_delivered(bridge: Bridge) -> None:
    # Given a call that is still ringing
    key, call_sid = bridge.live_call(status="ringing")

    # When an event arrives for it
    reply = bridge.post_event(new_event_body(key))

    # Then it is delivered: Twilio takes UDMs for ringing calls too
    assert reply.status == 200
    assert reply.json()["call_sid"] == call_sid


def test_base64_encoded_body_is_verified_and_delivered(bridge: Bridge) -> None:
    # Given API Gateway handing over the body base64-encoded
    key, _ = bridge.live_call()
    raw = json.dumps(new_event_body(key))
    headers = bridge.stack.sign(raw)
    event = http_event("POST", "/events", route_key="POST /events", headers=headers, body=raw)
    event["body"], event["isBase64Encoded"] = base64.b64encode(raw.encode()).decode(), True

    # When it is invoked
    reply = bridge.invoke("IngestFunction", event)

    # Then the signature is checked over the decoded bytes and the event is delivered
    assert reply.status == 200, reply.body


def test_event_is_delivered_with_api_key_credentials(bridge: Bridge, fresh_runtime: pytest.MonkeyPatch) -> None:
    # Given a Twilio secret holding an API key pair instead of the auth token
    account = bridge.stack.credentials.account
    bridge.stack.put_secret(
        TWILIO_SECRET_NAME,
        json.dumps(
            {
                "account_sid": account.account_sid,
                "api_key_sid": account.api_key_sid,
                "api_key_secret": account.api_key_secret,
            }
        ),
    )
    key, _ = bridge.live_call()

    # When an event arrives
    reply = bridge.post_event(new_event_body(key))

    # Then the API key authenticates the REST call
    assert reply.status == 200, reply.body


# -- idempotency ----------------------------------------------------------------------------------


def test_repeat_of_a_delivered_event_is_replayed_without_calling_twilio(bridge: Bridge) -> None:
    # Given an event that was delivered
    key, _ = bridge.live_call()
    event_id = new_id()
    body = new_event_body(key)
    first = bridge.post_event(body, event_id=event_id)
    requests_before = bridge.stack.emulator.stats()["udm_requests"]

    # When the sender retries it (a fresh signature, the same ID and payload)
    again = bridge.post_event(body, event_id=event_id)

    # Then the first answer comes back, marked as replayed, and Twilio is not called again
    assert again.status == 200
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert bridge.stack.emulator.stats()["udm_requests"] == requests_before
    assert len(bridge.messages_for(event_id)) == 1


def test_same_payload_with_other_formatting_counts_as_the_same_event(bridge: Bridge) -> None:
    # Given a delivered event
    key, _ = bridge.live_call()
    event_id = new_id()
    body = new_event_body(key)
    bridge.post_event(json.dumps(body), event_id=event_id)

    # When the retry serialises the same JSON with other key order and spacing
    reordered = json.dumps(dict(reversed(list(body.items()))), indent=4)
    again = bridge.post_event(reordered, event_id=event_id)

    # Then it is the same event: the parsed body is compared, not its bytes
    assert again.status == 200
    assert again.headers["Idempotent-Replayed"] == "true"


def test_same_event_id_with_a_different_payload_is_rejected(bridge: Bridge) -> None:
    # Given a delivered event
    key, _ = bridge.live_call()
    event_id = new_id()
    bridge.post_event(new_event_body(key), event_id=event_id)

    # When another payload reuses its ID
    reply = bridge.post_event(new_event_body(key, type="crm.note.added"), event_id=event_id)

    # Then it is refused and nothing more reaches Twilio
    assert_problem(reply, 422, "event_id_reused")
    assert len(bridge.messages_for(event_id)) == 1


def test_eight_concurrent_duplicates_make_one_post_at_twilio(bridge: Bridge) -> None:
    # Given Twilio answering slowly, so duplicates overlap the first delivery
    key, _ = bridge.live_call()
    event_id = new_id()
    body = new_event_body(key)
    bridge.stack.emulator.add_fault({"latency_ms": 400, "count": 1})

    # When the sender fires the same event eight times at once
    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(lambda _: bridge.post_event(body, event_id=event_id), range(8)))

    # Then exactly one POST reached Twilio, one answer is the delivery, the rest say "in progress" or replay it
    assert bridge.stack.emulator.stats()["udm_requests"] == 1
    assert len(bridge.messages_for(event_id)) == 1
    fresh = [r for r in replies if r.status == 200 and "Idempotent-Replayed" not in r.headers]
    assert len(fresh) == 1
    for reply in replies:
        if reply.status == 409:
            assert_problem(reply, 409, "event_in_progress")
            assert int(reply.headers["Retry-After"]) >= 1
        else:
            assert reply.status == 200
            assert reply.json()["message_sid"] == fresh[0].json()["message_sid"]


# -- 400 / 413 / 415 / 422 -----------------------------------------------------------------------


def test_body_that_is_not_json_is_a_400(bridge: Bridge) -> None:
    # When a correctly signed body is not JSON
    reply = bridge.post_event("{not json")

    # Then the sender gets a 400 problem
    assert_problem(reply, 400, "malformed_body")


def test_body_with_nan_is_a_400(bridge: Bridge) -> None:
    # When the body uses NaN, which Python would parse but JSON does not allow
    key, _ = bridge.live_call()
    reply = bridge.post_event(json.dumps(new_event_body(key, data={"score": float("nan")})))

    # Then it is refused as malformed instead of reaching Twilio as invalid JSON
    assert_problem(reply, 400, "malformed_body")
    assert bridge.stack.emulator.stats()["udm_requests"] == 0


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_body_that_is_not_declared_json_is_a_415(bridge: Bridge, content_type: str) -> None:
    # When a signed event declares another media type
    key, _ = bridge.live_call()
    reply = bridge.post_event(new_event_body(key), headers={"content-type": content_type})

    # Then it is refused with 415
    assert_problem(reply, 415, "unsupported_media_type")


def test_json_content_type_with_charset_is_accepted(bridge: Bridge) -> None:
    key, _ = bridge.live_call()
    reply = bridge.post_event(new_event_body(key), headers={"content-type": "application/json; charset=utf-8"})
    assert reply.status == 200


def test_schema_violations_are_listed_with_json_pointers(bridge: Bridge) -> None:
    # When an event breaks the envelope in several places
    reply = bridge.post_event({"type": "crm.customer.identified", "timestamp": "yesterday", "to": "", "extra": 1})

    # Then every violation is listed with where it is
    problem = assert_problem(reply, 422, "schema_violation")
    pointers = {error["pointer"] for error in problem["errors"]}
    assert {"", "/timestamp", "/to"} <= pointers
    messages = " ".join(error["message"] for error in problem["errors"])
    assert "'data' is a required property" in messages
    assert "date-time" in messages
    assert "extra" in messages


def test_data_is_validated_against_the_schema_of_its_type(bridge: Bridge) -> None:
    # When a known type's data breaks that type's schema
    key, _ = bridge.live_call()
    reply = bridge.post_event(new_event_body(key, data={"customer_id": "c", "name": "", "tier": "bronze"}))

    # Then the violations point into /data
    problem = assert_problem(reply, 422, "schema_violation")
    assert {error["pointer"] for error in problem["errors"]} == {"/data/name", "/data/tier"}
    assert bridge.stack.emulator.stats()["udm_requests"] == 0


def test_data_of_a_type_without_its_own_schema_only_needs_the_envelope(bridge: Bridge) -> None:
    key, _ = bridge.live_call()
    reply = bridge.post_event(new_event_body(key, type="helpdesk.ticket.opened", data={"anything": [1, 2]}))
    assert reply.status == 200


def test_content_over_the_limit_is_a_413_before_twilio_is_called(bridge: Bridge) -> None:
    # Given a recipient on a call
    key, _ = bridge.live_call()

    # When the resulting Content would be over 10,240 bytes
    reply = bridge.post_event(new_event_body(key, type="note.added", data={"text": "é" * 5200}))

    # Then it is refused with 413 and Twilio never sees it
    problem = assert_problem(reply, 413, "content_too_large")
    assert problem["limit"] == 10240
    assert problem["size"] > 10240
    assert bridge.stack.emulator.stats()["udm_requests"] == 0


def test_content_limit_is_configurable(bridge: Bridge, fresh_runtime: pytest.MonkeyPatch) -> None:
    # Given a deployment that allows only small messages
    fresh_runtime.setenv("MAX_CONTENT_BYTES", "200")
    key, _ = bridge.live_call()

    # When an ordinary event's Content is over that
    reply = bridge.post_event(new_event_body(key, type="note.added", data={"text": "x" * 200}))

    # Then the configured limit applies
    assert assert_problem(reply, 413, "content_too_large")["limit"] == 200


# -- 401 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_signature_header_is_a_401(bridge: Bridge, missing: str) -> None:
    key, _ = bridge.live_call()
    raw = json.dumps(new_event_body(key))
    headers = bridge.stack.sign(raw)
    del headers[missing]
    event = http_event("POST", "/events", route_key="POST /events", headers=headers, body=raw)
    reply = bridge.invoke("IngestFunction", event)
    assert_problem(reply, 401, "invalid_signature")


def test_signature_from_another_secret_is_a_401(bridge: Bridge) -> None:
    key, _ = bridge.live_call()
    reply = bridge.post_event(new_event_body(key), secret=new_webhook_secret())
    assert_problem(reply, 401, "invalid_signature")
    assert bridge.stack.emulator.stats()["udm_requests"] == 0


def test_tampered_body_is_a_401(bridge: Bridge) -> None:
    # Given a signed body
    key, _ = bridge.live_call()
    raw = json.dumps(new_event_body(key))
    headers = bridge.stack.sign(raw)

    # When one byte changes on the way
    event = http_event("POST", "/events", route_key="POST /events", headers=headers, body=raw.replace("Ada", "Eve"))
    reply = bridge.invoke("IngestFunction", event)

    # Then the signature no longer matches
    assert_problem(reply, 401, "invalid_signature")


@pytest.mark.parametrize("skew", [-301, 301])
def test_timestamp_outside_five_minutes_is_a_401(bridge: Bridge, skew: int) -> None:
    key, _ = bridge.live_call()
    reply = bridge.post_event(new_event_body(key), timestamp=time.time() + skew)
    problem = assert_problem(reply, 401, "invalid_signature")
    assert "timestamp" in problem["detail"]


@pytest.mark.parametrize(
    "signature",
    ["v1", "v1,", "v1,not base64!!", "garbage", "v1,a,b", "", "v2,AAAA", "v1,=", "v1," + "A" * 10_000],
)
def test_malformed_signature_header_is_a_401_never_a_500(bridge: Bridge, signature: str) -> None:
    key, _ = bridge.live_call()
    raw = json.dumps(new_event_body(key))
    headers = {**bridge.stack.sign(raw), "webhook-signature": signature}
    event = http_event("POST", "/events", route_key="POST /events", headers=headers, body=raw)
    assert_problem(bridge.invoke("IngestFunction", event), 401, "invalid_signature")


@pytest.mark.parametrize("stamp", ["yesterday", "nan", "inf", "-1e309", "1e400", ""])
def test_malformed_timestamp_is_a_401_never_a_500(bridge: Bridge, stamp: str) -> None:
    key, _ = bridge.live_call()
    raw = json.dumps(new_event_body(key))
    headers = {**bridge.stack.sign(raw), "webhook-timestamp": stamp}
    event = http_event("POST", "/events", route_key="POST /events", headers=headers, body=raw)
    assert_problem(bridge.invoke("IngestFunction", event), 401, "invalid_signature")


def test_unsigned_garbage_is_a_401_not_a_400(bridge: Bridge) -> None:
    # When an unauthenticated request also has a broken body and content type
    reply = bridge.post_event("{oops", sign=False, headers={"content-type": "text/plain"})

    # Then authenticity is judged first and nothing about the body is revealed
    problem = assert_problem(reply, 401, "invalid_signature")
    assert "JSON" not in problem["detail"]


def test_one_of_several_signatures_matching_is_enough(bridge: Bridge) -> None:
    # Given a sender that signs with an old and a new secret during its own rotation
    key, _ = bridge.live_call()
    raw = json.dumps(new_event_body(key))
    good = bridge.stack.sign(raw)
    other = bridge.stack.sign(raw, event_id=good["webhook-id"])  # same secret, for a valid v1 value
    from local.senders import standard_webhooks_headers as sign

    stranger = sign(raw, new_webhook_secret(), event_id=good["webhook-id"])
    header = f"{stranger['webhook-signature']} {other['webhook-signature']}"
    event = http_event(
        "POST", "/events", route_key="POST /events", headers={**good, "webhook-signature": header}, body=raw
    )

    # When both signatures are sent, space-separated
    reply = bridge.invoke("IngestFunction", event)

    # Then the one that matches is enough
    assert reply.status == 200, reply.body


def test_rotated_secrets_both_verify_during_the_rotation(bridge: Bridge, fresh_runtime: pytest.MonkeyPatch) -> None:
    # Given the bridge configured with the old and the new secret
    old, new = bridge.stack.credentials.webhook_secret, new_webhook_secret()
    bridge.stack.put_secret(WEBHOOK_SECRET_NAME, json.dumps([old, new]))
    key, _ = bridge.live_call()

    # When senders sign with either
    by_old = bridge.post_event(new_event_body(key), secret=old)
    by_new = bridge.post_event(new_event_body(key), secret=new)

    # Then both are accepted
    assert (by_old.status, by_new.status) == (200, 200)


@pytest.mark.parametrize("configured", ["[]", "", "   "])
def test_no_configured_secret_accepts_nothing(
    bridge: Bridge, fresh_runtime: pytest.MonkeyPatch, configured: str
) -> None:
    # Given a webhook secret that holds no secret at all
    bridge.stack.put_secret(WEBHOOK_SECRET_NAME, configured or " ")
    key, _ = bridge.live_call()

    # When any event arrives, even one signed with the previous secret
    reply = bridge.post_event(new_event_body(key))

    # Then it fails closed
    assert_problem(reply, 401, "invalid_signature")
    assert bridge.stack.emulator.stats()["udm_requests"] == 0


# -- 404 ------------------------------------------------------------------------------------------


def test_recipient_without_a_call_is_a_404_no_active_call(bridge: Bridge) -> None:
    reply = bridge.post_event(new_event_body(f"identity:{new_id()}"))
    problem = assert_problem(reply, 404, "no_active_call")
    assert bridge.stack.emulator.stats()["udm_requests"] == 0
    assert problem["recipient"].startswith("identity:")


def test_expired_mapping_counts_as_absent(bridge: Bridge) -> None:
    # Given a mapping whose TTL has passed but that DynamoDB has not deleted yet
    key = f"identity:{new_id()}"
    call = bridge.stack.emulator.create_call(bridge.stack.credentials.account.account_sid)
    bridge.stack.client("dynamodb").put_item(
        TableName="CallsTable",
        Item={"recipient": {"S": key}, "call_sid": {"S": call["sid"]}, "expires_at": {"N": str(int(time.time()) - 5)}},
    )

    # When an event arrives for that recipient
    reply = bridge.post_event(new_event_body(key))

    # Then there is no active call
    assert_problem(reply, 404, "no_active_call")
    assert bridge.stack.emulator.stats()["udm_requests"] == 0


@pytest.mark.parametrize("how", ["ended", "unknown"])
def test_call_twilio_no_longer_knows_is_a_404_and_the_stale_mapping_goes(bridge: Bridge, how: str) -> None:
    # Given a mapping to a call that has ended, or that Twilio never had
    if how == "ended":
        key, call_sid = bridge.live_call()
        bridge.stack.emulator.set_call_status(call_sid, "completed")
    else:
        key = f"identity:{new_id()}"
        bridge.calls("PUT", key, {"call_sid": "CA" + "f" * 32})

    # When an event arrives
    event_id = new_id()
    reply = bridge.post_event(new_event_body(key), event_id=event_id)

    # Then the sender hears 404, Twilio was asked once (no retry), and the mapping is removed
    assert_problem(reply, 404, "no_active_call")
    assert bridge.stack.emulator.stats()["udm_requests"] == 1
    assert bridge.calls("GET", key).status == 404


def test_stale_call_ending_hands_over_to_an_older_live_call(bridge: Bridge) -> None:
    # Given a recipient on a live call, and a newer registration Twilio has no call for
    key, live_sid = bridge.live_call()
    bridge.calls("PUT", key, {"call_sid": "CA" + "e" * 32})

    # When an event arrives: Twilio refuses the newer, stale call
    first = bridge.post_event(new_event_body(key))

    # Then that event is a 404, the stale call is gone, and the next event reaches the live call
    assert_problem(first, 404, "no_active_call")
    assert bridge.calls("GET", key).json()["call_sid"] == live_sid
    assert bridge.post_event(new_event_body(key)).json()["call_sid"] == live_sid


def test_no_active_call_leaves_no_idempotency_record(bridge: Bridge) -> None:
    # Given an event that found no call
    key = f"identity:{new_id()}"
    event_id = new_id()
    body = new_event_body(key)
    assert bridge.post_event(body, event_id=event_id).status == 404

    # When the call starts and the sender retries
    bridge.live_call(key)
    reply = bridge.post_event(body, event_id=event_id)

    # Then the retry is processed and delivered
    assert reply.status == 200
    assert "Idempotent-Replayed" not in reply.headers


# -- 502 ------------------------------------------------------------------------------------------


def test_twilio_rejecting_the_credentials_is_a_502(bridge: Bridge, fresh_runtime: pytest.MonkeyPatch) -> None:
    # Given a Twilio secret with a wrong auth token
    account = bridge.stack.credentials.account
    bridge.stack.put_secret(TWILIO_SECRET_NAME, json.dumps({"account_sid": account.account_sid, "auth_token": "wrong"}))
    key, _ = bridge.live_call()
    event_id = new_id()
    body = new_event_body(key)

    # When an event arrives
    reply = bridge.post_event(body, event_id=event_id)

    # Then it is a 502 naming Twilio's code, tried once
    problem = assert_problem(reply, 502, "twilio_credentials_rejected")
    assert problem["twilio_code"] == 20003
    assert bridge.stack.emulator.stats()["udm_requests"] == 1

    # And once the secret is fixed, the sender's retry goes through (no record was kept)
    bridge.stack.put_secret(
        TWILIO_SECRET_NAME, json.dumps({"account_sid": account.account_sid, "auth_token": account.auth_token})
    )
    from bridge import bootstrap

    bootstrap.reset()
    assert bridge.post_event(body, event_id=event_id).status == 200


# -- Twilio throttling: parked, not a 503 ---------------------------------------------------------


@pytest.mark.parametrize("status", [429, 500, 503])
def test_a_delivery_twilio_refuses_past_the_budget_is_parked_and_delivered_later_once(
    bridge: Bridge, status: int
) -> None:
    # Given Twilio failing transiently for longer than the retry budget
    key, call_sid = bridge.live_call()
    bridge.stack.emulator.add_fault({"status": status, "count": 10, "retry_after": 0})
    event_id = new_id()
    body = new_event_body(key)

    # When an event arrives
    reply = bridge.post_event(body, event_id=event_id)

    # Then the bridge tried a bounded number of times, then parked the event: the sender hears 202,
    # not a 503 it would retry into the throttling
    assert reply.status == 202, reply.body
    assert (reply.json()["status"], reply.json()["call_sid"]) == ("parked", call_sid)

    # And the flusher delivers it once Twilio takes it, once, whatever the sender retries
    assert wait_for(lambda: bridge.messages_for(event_id), timeout=30)
    retry = bridge.post_event(body, event_id=event_id)
    assert (retry.status, retry.headers.get("Idempotent-Replayed")) == (202, "true")
    bridge.stack.settle()
    assert len(bridge.messages_for(event_id)) == 1
    assert bridge.messages_for(event_id)[0]["call_sid"] == call_sid


def test_twilio_429_parks_the_event_at_once_and_the_flusher_waits_as_asked(bridge: Bridge) -> None:
    # Given Twilio over its concurrency limit once, asking for a pause
    key, call_sid = bridge.live_call()
    bridge.stack.emulator.add_fault({"status": 429, "count": 1, "retry_after": 1})
    event_id = new_id()
    started = time.monotonic()

    # When an event arrives
    reply = bridge.post_event(new_event_body(key), event_id=event_id)

    # Then the sender is answered without waiting out the pause: Twilio asked for less traffic, so the
    # event waits in the parked store rather than in the request (and its Lambda)
    assert (reply.status, reply.json()["status"], reply.json()["call_sid"]) == (202, "parked", call_sid)
    assert time.monotonic() - started < 1.0

    # And the flusher delivers it once, after the pause Twilio asked for
    assert wait_for(lambda: bridge.messages_for(event_id), timeout=30)
    assert time.monotonic() - started >= 1.0
    assert bridge.stack.emulator.stats()["udm_requests"] == 2


def test_connection_dropped_after_twilio_accepted_is_not_a_second_message(bridge: Bridge) -> None:
    # Given Twilio accepting the message but the connection dying before the answer
    key, _ = bridge.live_call()
    bridge.stack.emulator.add_fault({"drop": "after", "count": 1})
    event_id = new_id()

    # When an event arrives
    reply = bridge.post_event(new_event_body(key), event_id=event_id)

    # Then the retry with the same IdempotencyKey is answered from Twilio's record: one message
    assert reply.status == 200
    assert bridge.stack.emulator.stats()["udm_requests"] == 2
    [message] = bridge.messages_for(event_id)
    assert reply.json()["message_sid"] == message["sid"]


def test_connection_dropped_before_twilio_accepted_is_retried(bridge: Bridge) -> None:
    key, _ = bridge.live_call()
    bridge.stack.emulator.add_fault({"drop": "before", "count": 1})
    event_id = new_id()
    reply = bridge.post_event(new_event_body(key), event_id=event_id)
    assert reply.status == 200
    assert len(bridge.messages_for(event_id)) == 1


def test_twilio_slower_than_the_timeout_is_retried(bridge: Bridge, fresh_runtime: pytest.MonkeyPatch) -> None:
    # Given a short Twilio timeout and one answer slower than it
    fresh_runtime.setenv("TWILIO_TIMEOUT_SECONDS", "0.5")
    key, _ = bridge.live_call()
    bridge.stack.emulator.add_fault({"latency_ms": 1500, "count": 1})
    event_id = new_id()

    # When an event arrives
    reply = bridge.post_event(new_event_body(key), event_id=event_id)

    # Then the bridge gave up on the slow attempt, retried with the same key, and one message exists
    assert reply.status == 200
    assert len(bridge.messages_for(event_id)) == 1


def test_dynamodb_unreachable_is_a_503_and_twilio_is_not_called(
    bridge: Bridge, fresh_runtime: pytest.MonkeyPatch
) -> None:
    # Given DynamoDB unreachable (nothing listens on the port), Secrets Manager fine
    fresh_runtime.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9")
    key = f"identity:{new_id()}"

    # When an event arrives
    reply = bridge.post_event(new_event_body(key))

    # Then the sender is told to retry, and nothing was sent
    assert_problem(reply, 503, "store_unavailable")
    assert int(reply.headers["Retry-After"]) >= 1
    assert bridge.stack.emulator.stats()["udm_requests"] == 0


def test_secrets_manager_unreachable_is_a_503(bridge: Bridge, fresh_runtime: pytest.MonkeyPatch) -> None:
    fresh_runtime.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://127.0.0.1:9")
    reply = bridge.post_event(new_event_body("identity:someone"))
    assert_problem(reply, 503, "store_unavailable")


def test_missing_secret_is_a_500_that_reveals_nothing(bridge: Bridge, fresh_runtime: pytest.MonkeyPatch) -> None:
    # Given a deployment pointing at a secret that does not exist
    fresh_runtime.setenv("TWILIO_SECRET_ID", "udm-bridge/local/does-not-exist")
    key, _ = bridge.live_call()

    # When an event arrives
    reply = bridge.post_event(new_event_body(key))

    # Then the sender gets a generic 500 (retrying may help once the operator fixes it)
    problem = assert_problem(reply, 500, "configuration_error")
    assert "does-not-exist" not in reply.body.decode()
    assert "not a problem with the request" in problem["detail"]
