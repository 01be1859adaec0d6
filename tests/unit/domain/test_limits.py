"""Pure rules behind "no poison": input limits, whole-string patterns, namespaced idempotency keys."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.domain.calls import is_call_sid
from bridge.domain.errors import BodyTooLarge, InputLimitExceeded, MalformedBody
from bridge.domain.events import DEFAULT_SOURCE, event_key
from bridge.domain.limits import MAX_DEPTH, check_depth, parse_limited_json
from bridge.sources.profiles import parse_profiles
from bridge.sources.schemas import strict_validator

SOURCE_NAMES = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,10}", fullmatch=True) | st.just(DEFAULT_SOURCE)


@given(a=st.tuples(SOURCE_NAMES, st.text(min_size=1)), b=st.tuples(SOURCE_NAMES, st.text(min_size=1)))
def test_idempotency_keys_of_different_source_and_id_pairs_never_collide(
    a: tuple[str, str], b: tuple[str, str]
) -> None:
    # Whatever characters the IDs hold, two different (source, ID) pairs get two different keys
    assert (event_key(*a) == event_key(*b)) == (a == b)


def test_default_ids_without_a_colon_keep_the_bare_keys_stored_before() -> None:
    assert event_key(DEFAULT_SOURCE, "evt_1") == "evt_1"
    assert event_key(DEFAULT_SOURCE, "github:D") == "default:github:D"
    assert event_key("github", "D") == "github:D"


def test_depth_is_counted_outside_strings_and_stops_at_the_limit() -> None:
    check_depth(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH)
    check_depth(b'{"a": "' + b"[" * 10_000 + b'"}')
    check_depth(b'["\\"[[[[", 1]')
    with pytest.raises(InputLimitExceeded):
        check_depth(b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1))


def test_a_million_open_brackets_fail_fast_without_recursion() -> None:
    with pytest.raises(InputLimitExceeded):
        parse_limited_json(b"[" * 1_000_000)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"x" * 1_048_577, BodyTooLarge),
        (b'{"a": 1e400}', MalformedBody),
        (b'{"a": "\\udfff"}', MalformedBody),
        (b'{"a": ' + b"9" * 101 + b"}", InputLimitExceeded),
        (b"\xff", MalformedBody),
    ],
)
def test_bodies_outside_the_limits_are_refused_with_a_4xx(body: bytes, error: type[Exception]) -> None:
    with pytest.raises(error) as raised:
        parse_limited_json(body)
    assert 400 <= raised.value.status < 500  # type: ignore[attr-defined]


def test_patterns_and_formats_match_whole_strings_only() -> None:
    validator = strict_validator(
        {"properties": {"t": {"pattern": "^[a-z]+$"}, "d": {"format": "date-time"}, "c": {"pattern": "[$]"}}}
    )
    assert validator.is_valid({"t": "abc", "d": "2026-11-28T10:00:00Z", "c": "$"})
    assert not validator.is_valid({"t": "abc\n"})
    assert not validator.is_valid({"d": "2026-11-28T10:00:00Z\n"})


def test_call_sids_match_whole_strings_only() -> None:
    sid = "CA" + "0" * 32
    assert is_call_sid(sid)
    assert not is_call_sid(sid + "\n")


def test_a_profile_name_with_a_trailing_newline_is_refused() -> None:
    from bridge.domain.errors import ConfigurationError

    with pytest.raises(ConfigurationError):
        parse_profiles({"sources": {"github\n": {"scheme": "github", "to": "body.x"}}})


@pytest.mark.parametrize(
    ("profile", "deduplicated_by_body"),
    [
        # GitHub signs neither its delivery ID nor its event header: the signed body is the event
        ({"scheme": "github", "to": "body.x"}, True),
        # An ID inside a signed body is authenticated: it is the event's identity
        (
            {"scheme": "hmac", "hmac": {"header": "X-Sig"}, "event_id": "body.id", "type": "body.t", "to": "body.x"},
            False,
        ),
        # An ID from a header the signature doesn't cover decides nothing
        (
            {
                "scheme": "hmac",
                "hmac": {"header": "X-Sig"},
                "event_id": 'headers."x-id"',
                "type": "body.t",
                "to": "body.x",
            },
            True,
        ),
        # ...unless the profile declares that header signed
        (
            {
                "scheme": "hmac",
                "hmac": {"header": "X-Sig", "signed": ["header:X-Id", "body"]},
                "event_id": 'headers."x-id"',
                "type": "body.t",
                "to": "body.x",
            },
            False,
        ),
        ({"scheme": "twilio", "event_id": "body.Sid", "type": "body.EventType", "to": "body.x"}, False),
        ({"scheme": "twilio", "event_id": 'body.Sid || headers."i-twilio-idempotency-token"', "to": "body.x"}, True),
        ({"scheme": "stripe", "to": "body.x"}, False),
        ({"scheme": "standard-webhooks", "to": "body.x"}, False),
    ],
)
def test_only_a_signed_id_and_type_keep_an_event_from_being_deduplicated_by_its_signed_body(
    profile: dict[str, object], deduplicated_by_body: bool
) -> None:
    parsed = parse_profiles({"sources": {"s": profile}})["s"]
    headers = {"x-id": "a", "i-twilio-idempotency-token": "t", "webhook-id": "msg_1"}
    claim = parsed.claim(headers, {"id": "1", "Sid": "WR1", "x": "k"})
    assert (claim.dedupe_id is not None) == deduplicated_by_body


@pytest.mark.parametrize("field", ["to", "timestamp"])
def test_a_profile_whose_recipient_or_time_reads_an_unsigned_header_does_not_load(field: str) -> None:
    from bridge.domain.errors import ConfigurationError

    profile = {"scheme": "github", "to": "body.x", field: 'headers."x-unsigned"'}
    with pytest.raises(ConfigurationError, match="signature doesn't cover"):
        parse_profiles({"sources": {"s": profile}})
