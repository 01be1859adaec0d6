"""Which leg and which key a status callback is about, and which URL Twilio signed."""

from __future__ import annotations

import pytest

from bridge.domain.errors import InvalidCallback
from bridge.domain.inbound import HttpRequest, signed_url
from bridge.usecases.call_status import FormParams, target

CHILD = "CA" + "c" * 32
PARENT = "CA" + "p".replace("p", "a") * 32


def params(**fields: str) -> FormParams:
    return FormParams({name: [value] for name, value in fields.items()})


def test_child_leg_to_a_client_is_that_identity() -> None:
    found = target(params(CallSid=CHILD, ParentCallSid=PARENT, To="client:bob", From="+1555"), {})
    assert found is not None
    assert (found.key, found.call_sid) == ("identity:bob", CHILD)


def test_parent_leg_from_a_client_is_that_identity() -> None:
    found = target(params(CallSid=PARENT, To="+1555", From="client:alice"), {})
    assert found is not None
    assert (found.key, found.call_sid) == ("identity:alice", PARENT)


def test_child_leg_from_a_client_is_not_the_sdk_side() -> None:
    # On a child leg the SDK side is To; a client: From there is the caller's app, not the callee.
    assert target(params(CallSid=CHILD, ParentCallSid=PARENT, To="+1555", From="client:alice"), {}) is None


def test_key_and_leg_parent_in_the_url_name_the_parent() -> None:
    found = target(
        params(CallSid=CHILD, ParentCallSid=PARENT, To="+1555"), {"key": ["identity:alice"], "leg": ["parent"]}
    )
    assert found is not None
    assert (found.key, found.call_sid) == ("identity:alice", PARENT)


def test_key_in_the_url_without_leg_names_the_reporting_leg() -> None:
    found = target(params(CallSid=CHILD, ParentCallSid=PARENT, To="client:bob"), {"key": ["crm:42"]})
    assert found is not None
    assert (found.key, found.call_sid) == ("crm:42", CHILD)


def test_leg_parent_without_a_parent_is_ignored() -> None:
    assert target(params(CallSid=CHILD, To="+1555"), {"key": ["k"], "leg": ["parent"]}) is None


@pytest.mark.parametrize("address", ["+15551234567", "sip:bob@example.com", "client:", ""])
def test_no_client_side_means_no_target(address: str) -> None:
    assert target(params(CallSid=CHILD, ParentCallSid=PARENT, To=address), {}) is None


def test_malformed_call_sid_is_refused() -> None:
    with pytest.raises(InvalidCallback):
        target(params(CallSid="CA123", To="client:bob", ParentCallSid=PARENT), {})


def test_a_key_in_the_url_naming_an_internal_item_is_refused() -> None:
    with pytest.raises(InvalidCallback, match="not starting with #"):
        target(params(CallSid=CHILD, ParentCallSid=PARENT, To="+1555"), {"key": [f"#call:{PARENT}"], "leg": ["parent"]})


def test_signed_url_is_https_host_path_and_raw_query() -> None:
    request = HttpRequest(
        b"",
        {},
        host="abc.execute-api.us-east-1.amazonaws.com",
        raw_path="/twilio/call-status",
        raw_query="key=a%3Ab&leg=parent",
    )
    assert (
        signed_url(request, None)
        == "https://abc.execute-api.us-east-1.amazonaws.com/twilio/call-status?key=a%3Ab&leg=parent"
    )


def test_public_base_url_replaces_scheme_and_host_and_adds_its_base_path() -> None:
    request = HttpRequest(b"", {}, host="abc.execute-api.us-east-1.amazonaws.com", raw_path="/twilio/call-status")
    assert (
        signed_url(request, "https://hooks.example.com/bridge/")
        == "https://hooks.example.com/bridge/twilio/call-status"
    )
