"""PUT|GET|DELETE /calls/{key} through the real handler against moto's server."""

from __future__ import annotations

import time

import pytest
from helpers import Bridge, load_event, new_id

pytestmark = pytest.mark.integration

SID = "CA" + "0123456789abcdef" * 2
OTHER_SID = "CA" + "fedcba9876543210" * 2


def fresh_key() -> str:
    return f"identity:{new_id()}"


def test_put_registers_a_call_and_get_returns_it(bridge: Bridge) -> None:
    # Given a recipient key
    key = fresh_key()

    # When a call is registered for it
    put = bridge.calls("PUT", key, {"call_sid": SID, "ttl_seconds": 600})

    # Then GET returns the mapping, with its expiry
    assert put.status == 200
    got = bridge.calls("GET", key)
    assert got.status == 200
    assert got.json()["call_sid"] == SID
    assert got.json()["key"] == key
    assert 590 <= got.json()["expires_at"] - time.time() <= 600


def test_newest_registered_call_wins_and_the_older_takes_over_when_it_ends(bridge: Bridge) -> None:
    # Given two calls registered one after the other (a transfer, a second device)
    key = fresh_key()
    bridge.calls("PUT", key, {"call_sid": SID})
    bridge.calls("PUT", key, {"call_sid": OTHER_SID})

    # Then the newer one is the call ingest messages, and both are listed
    got = bridge.calls("GET", key).json()
    assert got["call_sid"] == OTHER_SID
    assert [call["call_sid"] for call in got["calls"]] == [OTHER_SID, SID]

    # When the newer one ends, the older live one takes over
    assert bridge.calls("DELETE", key, query=f"call_sid={OTHER_SID}").status == 204
    assert bridge.calls("GET", key).json()["call_sid"] == SID


def test_put_without_ttl_uses_the_maximum_call_duration(bridge: Bridge) -> None:
    key = fresh_key()
    expires = bridge.calls("PUT", key, {"call_sid": SID}).json()["expires_at"]
    assert 4 * 3600 - 10 <= expires - time.time() <= 4 * 3600


def test_percent_encoded_key_is_the_same_key(bridge: Bridge) -> None:
    # Given a key registered as identity:carol
    key = f"identity:{new_id()}"
    bridge.calls("PUT", key, {"call_sid": SID})

    # When a client asks with the colon percent-encoded
    reply = bridge.calls("GET", key.replace(":", "%3A"))

    # Then it finds the same mapping
    assert reply.status == 200
    assert reply.json()["key"] == key


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"call_sid": "CA123"}, "/call_sid"),
        ({"call_sid": "XX" + "0" * 32}, "/call_sid"),
        ({"call_sid": SID, "ttl_seconds": 0}, "/ttl_seconds"),
        ({"call_sid": SID, "ttl_seconds": 4 * 3600 + 1}, "/ttl_seconds"),
        ({"call_sid": SID, "ttl_seconds": "60"}, "/ttl_seconds"),
        ({}, ""),
    ],
)
def test_malformed_registration_is_a_422_and_changes_nothing(bridge: Bridge, body: dict, pointer: str) -> None:  # type: ignore[type-arg]
    # Given a registered call
    key = fresh_key()
    bridge.calls("PUT", key, {"call_sid": OTHER_SID})

    # When a malformed registration arrives
    reply = bridge.calls("PUT", key, body)

    # Then it is refused with the offending field, and the old mapping stands
    assert reply.status == 422
    assert reply.content_type == "application/problem+json"
    assert pointer in {error["pointer"] for error in reply.json()["errors"]}
    assert bridge.calls("GET", key).json()["call_sid"] == OTHER_SID


def test_registration_that_is_not_json_is_a_400(bridge: Bridge) -> None:
    reply = bridge.calls("PUT", fresh_key(), "call_sid=CA123")
    assert reply.status == 400
    assert reply.json()["code"] == "malformed_body"


def test_registration_with_another_media_type_is_a_415(bridge: Bridge) -> None:
    reply = bridge.calls("PUT", fresh_key(), f'{{"call_sid": "{SID}"}}', content_type="text/plain")
    assert reply.status == 415


def test_key_longer_than_256_characters_is_a_400(bridge: Bridge) -> None:
    reply = bridge.calls("PUT", "k" * 257, {"call_sid": SID})
    assert reply.status == 400
    assert reply.json()["code"] == "invalid_request"


def test_get_of_an_unknown_key_is_a_404(bridge: Bridge) -> None:
    reply = bridge.calls("GET", fresh_key())
    assert reply.status == 404
    assert reply.json()["code"] == "call_not_found"


def test_delete_removes_every_call_of_the_key(bridge: Bridge) -> None:
    key = fresh_key()
    bridge.calls("PUT", key, {"call_sid": SID})
    bridge.calls("PUT", key, {"call_sid": OTHER_SID})
    assert bridge.calls("DELETE", key).status == 204
    assert bridge.calls("GET", key).status == 404


def test_delete_naming_the_registered_call_removes_it(bridge: Bridge) -> None:
    key = fresh_key()
    bridge.calls("PUT", key, {"call_sid": SID})
    assert bridge.calls("DELETE", key, query=f"call_sid={SID}").status == 204
    assert bridge.calls("GET", key).status == 404


def test_delete_naming_a_call_that_is_not_registered_is_a_409_and_the_mapping_stays(bridge: Bridge) -> None:
    # Given a key mapped to a call
    key = fresh_key()
    bridge.calls("PUT", key, {"call_sid": SID})

    # When a removal names another call
    reply = bridge.calls("DELETE", key, query=f"call_sid={OTHER_SID}")

    # Then it is refused and the registered call stays
    assert reply.status == 409
    assert reply.json()["code"] == "call_mismatch"
    assert bridge.calls("GET", key).json()["call_sid"] == SID


def test_delete_with_a_malformed_call_sid_is_a_400(bridge: Bridge) -> None:
    key = fresh_key()
    bridge.calls("PUT", key, {"call_sid": SID})
    assert bridge.calls("DELETE", key, query="call_sid=nope").status == 400
    assert bridge.calls("GET", key).status == 200


def test_delete_of_an_unknown_key_is_a_404(bridge: Bridge) -> None:
    assert bridge.calls("DELETE", fresh_key()).status == 404


def test_sample_events_drive_the_calls_function(bridge: Bridge) -> None:
    # Given the sample events shipped for `sam local invoke`
    put, get, delete = (load_event(f"calls-{name}.json") for name in ("put", "get", "delete"))

    # When they are invoked in order (put and delete name identity:bob)
    put_reply = bridge.invoke("CallsFunction", put)
    delete_reply = bridge.invoke("CallsFunction", delete)

    # Then they register and remove the call, and the GET sample is answered
    assert put_reply.status == 200
    assert delete_reply.status == 204
    assert bridge.invoke("CallsFunction", get).status in (200, 404)
