"""Which leg and which keys a status callback is about, which URL Twilio signed, and what callbacks
do to the SDK user's key and the remote party's phone key (on the fakes)."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from bridge.domain.calls import Change
from bridge.domain.errors import InvalidCallback, StoreUnavailable
from bridge.domain.inbound import HttpRequest, signed_url
from bridge.domain.outcomes import Outcome
from bridge.usecases.call_status import CallStatus, FormParams, target
from unit.fakes import Clock, FakeRegistry, FakeTwilioSignatures

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


# -- the remote party's phone key ---------------------------------------------------------------------

CALLER = "+15551234567"
DIALLED = "+442079460958"


def test_a_customer_calling_a_client_is_the_child_legs_from() -> None:
    # <Dial><Client>: the SDK leg's callbacks carry the caller's number in From
    found = target(params(CallSid=CHILD, ParentCallSid=PARENT, To="client:bob", From=CALLER), {})
    assert found is not None
    assert (found.key, found.call_sid, found.phone) == ("identity:bob", CHILD, f"phone:{CALLER}")


def test_a_number_the_sdk_user_dials_is_the_dialled_legs_to_under_the_parent() -> None:
    # <Dial><Number> from a TwiML App: the dialled leg reports for its parent, the SDK leg
    query = {"key": ["identity:alice"], "leg": ["parent"]}
    found = target(params(CallSid=CHILD, ParentCallSid=PARENT, To=DIALLED, From="+15550001111"), query)
    assert found is not None
    assert (found.key, found.call_sid, found.phone) == ("identity:alice", PARENT, f"phone:{DIALLED}")


def test_the_twiml_apps_own_callback_names_the_dialled_number_in_to() -> None:
    found = target(params(CallSid=PARENT, To=DIALLED, From="client:alice"), {})
    assert found is not None
    assert (found.key, found.call_sid, found.phone) == ("identity:alice", PARENT, f"phone:{DIALLED}")


def test_a_key_in_the_url_on_the_sdk_leg_keeps_the_callers_number() -> None:
    found = target(params(CallSid=CHILD, ParentCallSid=PARENT, To="client:bob", From=CALLER), {"key": ["crm:42"]})
    assert found is not None
    assert (found.key, found.phone) == ("crm:42", f"phone:{CALLER}")


@pytest.mark.parametrize(
    "caller", ["anonymous", "Restricted", "+266696687", "client:alice", "sip:carol@example.com", "", "555-1234"]
)
def test_withheld_clients_sip_and_malformed_parties_have_no_phone_key(caller: str) -> None:
    found = target(params(CallSid=CHILD, ParentCallSid=PARENT, To="client:bob", From=caller), {})
    assert found is not None
    assert (found.key, found.phone) == ("identity:bob", None)


def test_a_key_in_the_url_of_a_leg_with_no_client_side_has_no_phone_key() -> None:
    # <Dial><Number statusCallback="...?key=crm:42">: From is the account's own number, not a customer
    found = target(params(CallSid=CHILD, ParentCallSid=PARENT, To=DIALLED, From="+15550001111"), {"key": ["crm:42"]})
    assert found is not None
    assert (found.key, found.phone) == ("crm:42", None)


def test_a_sip_address_dialled_by_the_sdk_user_has_no_phone_key() -> None:
    query = {"key": ["identity:alice"], "leg": ["parent"]}
    found = target(params(CallSid=CHILD, ParentCallSid=PARENT, To="sip:desk@example.com", From="client:alice"), query)
    assert found is not None
    assert found.phone is None


# -- both keys through the use case, on the fakes ---------------------------------------------------------


def callback(fields: dict[str, str], query: str = "") -> HttpRequest:
    return HttpRequest(
        urlencode(fields).encode(),
        {"content-type": "application/x-www-form-urlencoded", "x-twilio-signature": FakeTwilioSignatures.valid},
        host="bridge.example.com",
        raw_path="/twilio/call-status",
        raw_query=query,
    )


def inbound(status: str, seq: int, caller: str = CALLER, name: str = "bob") -> HttpRequest:
    fields = dict(CallSid=CHILD, ParentCallSid=PARENT, To=f"client:{name}", From=caller, CallStatus=status)
    return callback({**fields, "SequenceNumber": str(seq)})


def use_case(registry: FakeRegistry) -> CallStatus:
    return CallStatus(
        signatures=FakeTwilioSignatures(), registry=registry, public_base_url=None, max_call_seconds=4 * 3600
    )


def test_one_callback_registers_the_leg_under_both_keys_and_reports_each() -> None:
    registry = FakeRegistry(clock=Clock())
    applied = use_case(registry).handle(inbound("ringing", 1))
    assert (applied.outcome, applied.key) == (Outcome.REGISTERED, "identity:bob")
    assert applied.phone is not None
    assert (applied.phone.outcome, applied.phone.key) == (Outcome.REGISTERED, f"phone:{CALLER}")
    assert [(h.outcome, h.get("recipient"), h.get("active_call")) for h in applied.also()] == [
        (Outcome.REGISTERED, f"phone:{CALLER}", CHILD)
    ]
    for key in ("identity:bob", f"phone:{CALLER}"):
        found = registry.active_call(key)
        assert found is not None
        assert found.call_sid == CHILD


def test_replays_late_callbacks_and_the_end_treat_the_phone_key_like_the_identity() -> None:
    registry = FakeRegistry(clock=Clock())
    service = use_case(registry)
    service.handle(inbound("in-progress", 2))

    # A replayed or out-of-order callback changes neither key
    late = service.handle(inbound("ringing", 1))
    assert late.outcome is Outcome.IGNORED
    assert late.phone is not None
    assert late.phone.outcome is Outcome.IGNORED
    assert late.also()[0].get("reason") == "stale or repeated callback"

    # The hang-up removes the leg from both
    ended = service.handle(inbound("completed", 3))
    assert ended.phone is not None
    assert (ended.outcome, ended.phone.outcome) == (Outcome.UNREGISTERED, Outcome.UNREGISTERED)
    assert registry.active_call("identity:bob") is None
    assert registry.active_call(f"phone:{CALLER}") is None

    # And the tombstone keeps a late ringing from bringing it back under either key
    resurrect = service.handle(inbound("ringing", 4))
    assert resurrect.phone is not None
    assert (resurrect.outcome, resurrect.phone.outcome) == (Outcome.IGNORED, Outcome.IGNORED)
    assert registry.active_call(f"phone:{CALLER}") is None


def test_an_anonymous_caller_registers_only_the_identity() -> None:
    registry = FakeRegistry(clock=Clock())
    applied = use_case(registry).handle(inbound("ringing", 1, caller="anonymous"))
    assert (applied.outcome, applied.phone, applied.also()) == (Outcome.REGISTERED, None, [])
    assert set(registry.states) == {"identity:bob"}


def test_two_agents_on_calls_with_one_customer_the_newest_wins_the_phone_key() -> None:
    clock = Clock()
    registry = FakeRegistry(clock=clock)
    service = use_case(registry)
    service.handle(inbound("ringing", 1, name="bob"))
    clock.advance(5)
    second = "CA" + "d" * 32
    fields = dict(CallSid=second, ParentCallSid=PARENT, To="client:carol", From=CALLER, CallStatus="ringing")
    service.handle(callback({**fields, "SequenceNumber": "1"}))
    found = registry.active_call(f"phone:{CALLER}")
    assert found is not None
    assert found.call_sid == second


def test_a_failed_identity_write_still_reports_what_the_phone_key_did() -> None:
    registry = DownFor("identity:bob")
    with pytest.raises(StoreUnavailable) as raised:
        use_case(registry).handle(inbound("ringing", 1))
    assert [(h.outcome, h.get("recipient")) for h in raised.value.happened] == [(Outcome.REGISTERED, f"phone:{CALLER}")]

    # Repeated once the store is back, the callback repeats nothing for the phone key and registers the identity
    registry.down = None
    retried = use_case(registry).handle(inbound("ringing", 1))
    assert retried.phone is not None
    assert (retried.outcome, retried.phone.outcome) == (Outcome.REGISTERED, Outcome.IGNORED)


def test_a_failed_phone_write_leaves_the_identity_untouched() -> None:
    registry = DownFor(f"phone:{CALLER}")
    with pytest.raises(StoreUnavailable) as raised:
        use_case(registry).handle(inbound("ringing", 1))
    assert raised.value.happened == []
    assert registry.active_call("identity:bob") is None


class DownFor(FakeRegistry):
    """The registry, with the store down for one key."""

    def __init__(self, key: str | None) -> None:
        super().__init__(clock=Clock())
        self.down = key

    def started(
        self, key: str, call_sid: str, *, ttl_seconds: int, started: float | None, leg: str, seq: int | None
    ) -> Change:
        if key == self.down:
            raise StoreUnavailable("The call registry is unavailable.")
        return super().started(key, call_sid, ttl_seconds=ttl_seconds, started=started, leg=leg, seq=seq)
