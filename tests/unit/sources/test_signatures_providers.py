"""Each shipped profile verifies its provider's signatures as the provider documents them.

Where a provider publishes a test vector it is checked here verbatim; otherwise the sender side
(local/senders.py, written from the provider's documentation) signs and the profile verifies.
Every scheme with a signed timestamp refuses a stale one; every one refuses a tampered body.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from bridge.adapters.twilio.signatures import TwilioRequestSignatures
from bridge.domain.errors import Unauthenticated
from bridge.sources.profiles import HmacSettings, load_profiles
from bridge.sources.signatures import GitHubVerifier, TwilioVerifier, Verifier, signed_message, verifier_for
from local.senders import (
    hubspot_headers,
    intercom_headers,
    shopify_headers,
    twilio_form_headers,
    twilio_json_url,
    twilio_signature,
    zendesk_headers,
)

PROFILES = load_profiles()
BODY = b'{"id":"evt_1","detail":{"assignee_id":"42"}}'
URL = "https://bridge.example.com/events/hubspot"


def twilio_verifier(tokens: list[str]) -> TwilioVerifier:
    """The twilio source's verifier, as bootstrap builds it: the tokens through the TwilioSignatures port."""
    return TwilioVerifier(TwilioRequestSignatures(lambda: tokens))


def verifier(source: str, secret: str) -> Verifier:
    return verifier_for(PROFILES[source], [secret], {"twilio": lambda _, secrets: twilio_verifier(list(secrets))})


# -- published test vectors -------------------------------------------------------------------------


def test_githubs_documented_test_vector_verifies() -> None:
    # From GitHub's "Validating webhook deliveries": secret, payload and the signature it documents
    headers = {"x-hub-signature-256": "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"}
    GitHubVerifier(["It's a Secret to Everybody"]).verify(b"Hello, World!", headers)
    with pytest.raises(Unauthenticated):
        GitHubVerifier(["It's a Secret to Everybody"]).verify(b"Hello, World?", headers)


TWILIO_VECTOR_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
TWILIO_VECTOR_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}
TWILIO_VECTOR_SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="  # auth token "12345", Twilio's request-validation example


def test_twilios_documented_test_vector_verifies_and_the_sender_helper_agrees() -> None:
    from urllib.parse import urlencode

    body = urlencode(TWILIO_VECTOR_PARAMS).encode()
    headers = {"content-type": "application/x-www-form-urlencoded", "x-twilio-signature": TWILIO_VECTOR_SIGNATURE}
    twilio_verifier(["12345"]).verify(body, headers, url=TWILIO_VECTOR_URL)
    assert twilio_signature("12345", TWILIO_VECTOR_URL, TWILIO_VECTOR_PARAMS) == TWILIO_VECTOR_SIGNATURE
    with pytest.raises(Unauthenticated):
        twilio_verifier(["12345"]).verify(body.replace(b"1234&", b"9999&"), headers, url=TWILIO_VECTOR_URL)


def test_twilio_json_callbacks_verify_with_body_sha256_in_the_url() -> None:
    # Given a JSON callback: Twilio signs the URL carrying the body's SHA-256
    body = b'{"EventType":"reservation.created","WorkerName":"alice"}'
    url = twilio_json_url("https://bridge.example.com/events/twilio", body)
    headers = {"content-type": "application/json", "x-twilio-signature": twilio_signature("token", url)}
    verify = twilio_verifier(["old-token", "token"]).verify

    # Then it verifies, and a changed body or a URL without the hash does not
    verify(body, headers, url=url)
    with pytest.raises(Unauthenticated):
        verify(body.replace(b"alice", b"bob"), headers, url=url)
    with pytest.raises(Unauthenticated, match="bodySHA256"):
        verify(body, headers, url="https://bridge.example.com/events/twilio")


def test_twilio_without_an_auth_token_fails_closed() -> None:
    headers = twilio_form_headers("token", URL, {"a": "b"})
    with pytest.raises(Unauthenticated):
        twilio_verifier([]).verify(b"a=b", headers, url=URL)


def test_twilio_signature_with_non_ascii_is_refused_as_not_ascii() -> None:
    from urllib.parse import urlencode

    body = urlencode(TWILIO_VECTOR_PARAMS).encode()
    headers = {"content-type": "application/x-www-form-urlencoded", "x-twilio-signature": TWILIO_VECTOR_SIGNATURE}
    with pytest.raises(Unauthenticated, match="ASCII"):
        twilio_verifier(["12345"]).verify(
            body, {**headers, "x-twilio-signature": TWILIO_VECTOR_SIGNATURE + "\u0660"}, url=TWILIO_VECTOR_URL
        )


# -- each new profile: valid, tampered, stale -------------------------------------------------------

type Signer = Callable[[bytes, str, float], dict[str, str]]
SIGNERS: dict[str, Signer] = {
    "zendesk": lambda body, secret, at: zendesk_headers(body, secret, timestamp=at),
    "hubspot": lambda body, secret, at: hubspot_headers(body, secret, URL, timestamp=at),
    "intercom": lambda body, secret, at: intercom_headers(body, secret),
    "shopify": lambda body, secret, at: shopify_headers(body, secret),
}
TIMESTAMPED = ["zendesk", "hubspot"]


@pytest.mark.parametrize("source", sorted(SIGNERS))
def test_a_valid_signature_verifies(source: str) -> None:
    verifier(source, "s3cret").verify(BODY, SIGNERS[source](BODY, "s3cret", time.time()), url=URL)


@pytest.mark.parametrize("source", sorted(SIGNERS))
def test_a_tampered_body_is_refused(source: str) -> None:
    headers = SIGNERS[source](BODY, "s3cret", time.time())
    with pytest.raises(Unauthenticated):
        verifier(source, "s3cret").verify(BODY.replace(b"42", b"43"), headers, url=URL)


@pytest.mark.parametrize("source", sorted(SIGNERS))
def test_another_secret_is_refused(source: str) -> None:
    with pytest.raises(Unauthenticated):
        verifier(source, "s3cret").verify(BODY, SIGNERS[source](BODY, "other", time.time()), url=URL)


@pytest.mark.parametrize("source", TIMESTAMPED)
@pytest.mark.parametrize("skew", [-301, 301])
def test_a_timestamp_outside_five_minutes_is_refused(source: str, skew: int) -> None:
    headers = SIGNERS[source](BODY, "s3cret", time.time() + skew)
    with pytest.raises(Unauthenticated, match="tolerance"):
        verifier(source, "s3cret").verify(BODY, headers, url=URL)


def test_hubspot_signs_the_method_and_the_url() -> None:
    headers = hubspot_headers(BODY, "s3cret", URL)
    with pytest.raises(Unauthenticated):
        verifier("hubspot", "s3cret").verify(BODY, headers, url=URL + "?x=1")
    with pytest.raises(Unauthenticated):
        verifier("hubspot", "s3cret").verify(BODY, headers, url=URL, method="PUT")


def test_hubspot_decodes_the_escapes_it_lists_in_the_url_it_signs() -> None:
    # HubSpot signs its URI with %3A, %2F, %3F, %40, ... decoded; the bridge sees them encoded
    settings = PROFILES["hubspot"].hmac
    assert settings is not None
    message = signed_message(
        settings,
        b"[]",
        {},
        timestamp="1",
        url="https://h.example/events/hubspot?k=identity%3Aalice%2Fx%20y",
        method="post",
    )
    assert message == b"POSThttps://h.example/events/hubspot?k=identity:alice/x%20y[]1"


def test_declared_parts_and_separator_build_the_message() -> None:
    settings = HmacSettings(header="X-Sig", timestamp_header="X-Ts", signed=("header:X-Id", "timestamp", "body"))
    message = signed_message(settings, b"{}", {"x-id": "m-1"}, timestamp="7", url="", method="POST")
    assert message == b"m-1.7.{}"
    assert HmacSettings(header="X-Sig").parts == ("body",)
    assert HmacSettings(header="X-Sig", timestamp_header="X-Ts").parts == ("timestamp", "body")


@pytest.mark.parametrize("source", TIMESTAMPED)
def test_a_signed_timestamp_header_with_non_ascii_digits_is_a_401(source: str) -> None:
    # Zendesk's time and HubSpot's milliseconds, each in Arabic-Indic digits and signed as sent
    signed = SIGNERS[source](BODY, "secret", time.time())
    name = next(name for name in signed if "timestamp" in name)
    spelled = signed[name].translate({ord(d): 0x660 + int(d) for d in "0123456789"})
    with pytest.raises(Unauthenticated, match="ASCII"):
        verifier(source, "secret").verify(BODY, {**signed, name: spelled}, url=URL, method="POST")
