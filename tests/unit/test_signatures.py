"""Standard Webhooks verification: the library's checks, our fail-closed and error mapping."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.errors import Unauthenticated
from bridge.signatures import StandardWebhookVerifier, parse_secret_list
from local.stack import new_webhook_secret, sign

SECRET = new_webhook_secret()
BODY = b'{"type":"t","timestamp":"2026-11-28T10:00:00Z","to":"k","data":{}}'


def headers(secret: str = SECRET, **overrides: str) -> dict[str, str]:
    signed = sign(BODY, secret, event_id="evt_1")
    signed.update(overrides)
    return signed


def test_valid_signature_yields_the_event_id() -> None:
    assert StandardWebhookVerifier([SECRET]).verify(BODY, headers()).event_id == "evt_1"


def test_any_configured_secret_verifies() -> None:
    other = new_webhook_secret()
    verifier = StandardWebhookVerifier([other, SECRET])
    assert verifier.verify(BODY, headers()).event_id == "evt_1"
    assert verifier.verify(BODY, headers(other)).event_id == "evt_1"


def test_no_secret_fails_closed() -> None:
    verifier = StandardWebhookVerifier([])
    assert not verifier.usable
    with pytest.raises(Unauthenticated):
        verifier.verify(BODY, headers())


def test_unusable_secret_is_skipped_and_the_rest_still_work() -> None:
    verifier = StandardWebhookVerifier(["whsec_", SECRET])
    assert verifier.verify(BODY, headers()).event_id == "evt_1"


def test_stale_timestamp_is_explained() -> None:
    stale = sign(BODY, SECRET, event_id="evt_1", timestamp=time.time() - 600)
    with pytest.raises(Unauthenticated, match="timestamp"):
        StandardWebhookVerifier([SECRET]).verify(BODY, stale)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("whsec_abc", ("whsec_abc",)),
        ('["whsec_a", "whsec_b"]', ("whsec_a", "whsec_b")),
        ("[]", ()),
        ("", ()),
        ("[not json", ()),
        ('["whsec_a", 7, ""]', ("whsec_a",)),
    ],
)
def test_secret_formats(raw: str, expected: tuple[str, ...]) -> None:
    assert tuple(parse_secret_list(raw)) == expected


header_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=200)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=st.binary(max_size=300),
    webhook_id=header_text,
    stamp=st.one_of(header_text, st.integers().map(str), st.floats().map(str)),
    signature=st.one_of(header_text, st.lists(header_text, max_size=4).map(" ".join)),
)
def test_no_random_input_passes_or_raises_anything_but_unauthenticated(
    body: bytes, webhook_id: str, stamp: str, signature: str
) -> None:
    # Whatever arrives, the verifier either refuses with Unauthenticated or (never, here) accepts
    verifier = StandardWebhookVerifier([SECRET])
    forged = {"webhook-id": webhook_id, "webhook-timestamp": stamp, "webhook-signature": signature}
    with pytest.raises(Unauthenticated):
        verifier.verify(body, forged)


@settings(max_examples=200, deadline=None)
@given(body=st.binary(min_size=1, max_size=300))
def test_signature_of_one_body_never_verifies_another(body: bytes) -> None:
    signed = headers()
    if body == BODY:
        return
    with pytest.raises(Unauthenticated):
        StandardWebhookVerifier([SECRET]).verify(body, signed)
