"""Authenticity per scheme: what verifies, what doesn't, and that nothing else ever escapes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import unicodedata
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.domain.errors import Unauthenticated
from bridge.sources.profiles import HmacSettings
from bridge.sources.signatures import (
    GitHubVerifier,
    HmacVerifier,
    StandardWebhookVerifier,
    StripeVerifier,
    Verifier,
    parse_secrets,
)
from local.senders import new_webhook_secret
from local.senders import standard_webhooks_headers as sign

SECRET = new_webhook_secret()
BODY = b'{"type":"t","timestamp":"2026-11-28T10:00:00Z","to":"k","data":{}}'


def headers(secret: str = SECRET, **overrides: str) -> dict[str, str]:
    signed = sign(BODY, secret, event_id="evt_1")
    signed.update(overrides)
    return signed


def github_headers(secret: str, body: bytes = BODY) -> dict[str, str]:
    return {"x-hub-signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


def stripe_headers(secret: str, body: bytes = BODY, at: int | None = None) -> dict[str, str]:
    stamp = int(time.time() if at is None else at)
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"stripe-signature": f"t={stamp},v1={mac}"}


# -- standard webhooks ------------------------------------------------------------------------------


def test_valid_standard_webhook_verifies() -> None:
    StandardWebhookVerifier([SECRET]).verify(BODY, headers())


def test_any_configured_secret_verifies() -> None:
    other = new_webhook_secret()
    verifier = StandardWebhookVerifier([other, SECRET])
    verifier.verify(BODY, headers())
    verifier.verify(BODY, headers(other))


def test_no_secret_fails_closed() -> None:
    verifier = StandardWebhookVerifier([])
    assert not verifier.usable
    with pytest.raises(Unauthenticated):
        verifier.verify(BODY, headers())


def test_unusable_secret_is_skipped_and_the_rest_still_work() -> None:
    StandardWebhookVerifier(["whsec_", SECRET]).verify(BODY, headers())


def test_stale_timestamp_is_explained() -> None:
    stale = sign(BODY, SECRET, event_id="evt_1", timestamp=time.time() - 600)
    with pytest.raises(Unauthenticated, match="timestamp"):
        StandardWebhookVerifier([SECRET]).verify(BODY, stale)


# -- github -----------------------------------------------------------------------------------------


def test_github_signature_over_the_raw_body_verifies() -> None:
    GitHubVerifier(["gh-secret"]).verify(BODY, github_headers("gh-secret"))


def test_github_signature_is_case_insensitive_hex() -> None:
    signed = github_headers("gh-secret")
    GitHubVerifier(["gh-secret"]).verify(
        BODY, {"x-hub-signature-256": signed["x-hub-signature-256"].upper().replace("SHA256", "sha256")}
    )


@pytest.mark.parametrize("header", ["", "sha256=", "sha1=abc", "sha256", "md5=00"])
def test_github_malformed_header_is_refused(header: str) -> None:
    with pytest.raises(Unauthenticated):
        GitHubVerifier(["gh-secret"]).verify(BODY, {"x-hub-signature-256": header})


def test_github_rotated_secrets_both_verify() -> None:
    verifier = GitHubVerifier(["old", "new"])
    verifier.verify(BODY, github_headers("old"))
    verifier.verify(BODY, github_headers("new"))


# -- stripe -----------------------------------------------------------------------------------------


def test_stripe_signature_verifies_with_any_v1() -> None:
    good = stripe_headers("whsec_stripe")["stripe-signature"]
    stamp = good.split(",")[0]
    header = f"{stamp},v1={'0' * 64},{good.split(',')[1]},v0=ignored"
    StripeVerifier(["whsec_stripe"], tolerance=300).verify(BODY, {"stripe-signature": header})


@pytest.mark.parametrize("skew", [-301, 301])
def test_stripe_timestamp_outside_tolerance_is_refused(skew: int) -> None:
    with pytest.raises(Unauthenticated, match="tolerance"):
        StripeVerifier(["whsec_stripe"], tolerance=300).verify(
            BODY, stripe_headers("whsec_stripe", at=int(time.time() + skew))
        )


def test_stripe_signature_binds_the_timestamp() -> None:
    now = int(time.time())
    signed = stripe_headers("whsec_stripe", at=now)["stripe-signature"]
    moved = signed.replace(f"t={now}", f"t={now + 1}")
    with pytest.raises(Unauthenticated):
        StripeVerifier(["whsec_stripe"], tolerance=300).verify(BODY, {"stripe-signature": moved})


# -- generic hmac -----------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["sha256", "sha1"])
@pytest.mark.parametrize("encoding", ["hex", "base64"])
def test_hmac_scheme_with_each_algorithm_and_encoding(algorithm: str, encoding: str) -> None:
    mac = hmac.new(b"k", BODY, getattr(hashlib, algorithm)).digest()
    text = mac.hex() if encoding == "hex" else base64.b64encode(mac).decode()
    settings_ = HmacSettings(header="X-Signature", algorithm=algorithm, encoding=encoding, prefix="v1=")
    HmacVerifier(["k"], settings_, tolerance=300).verify(BODY, {"x-signature": f"v1={text}"})


def test_hmac_with_a_timestamp_signs_timestamp_dot_body_and_enforces_tolerance() -> None:
    settings_ = HmacSettings(header="X-Signature", timestamp_header="X-Timestamp")
    stamp = str(int(time.time()))
    mac = hmac.new(b"k", stamp.encode() + b"." + BODY, hashlib.sha256).hexdigest()
    verifier = HmacVerifier(["k"], settings_, tolerance=300)
    verifier.verify(BODY, {"x-signature": mac, "x-timestamp": stamp})
    with pytest.raises(Unauthenticated):
        verifier.verify(BODY, {"x-signature": mac, "x-timestamp": str(int(time.time()) - 1000)})
    with pytest.raises(Unauthenticated):
        verifier.verify(BODY, {"x-signature": hmac.new(b"k", BODY, hashlib.sha256).hexdigest(), "x-timestamp": stamp})


def test_hmac_missing_prefix_is_refused() -> None:
    settings_ = HmacSettings(header="X-Signature", prefix="sha256=")
    mac = hmac.new(b"k", BODY, hashlib.sha256).hexdigest()
    with pytest.raises(Unauthenticated):
        HmacVerifier(["k"], settings_, tolerance=300).verify(BODY, {"x-signature": mac})


# -- secrets ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("whsec_abc", {"default": ("whsec_abc",)}),
        ('["whsec_a", "whsec_b"]', {"default": ("whsec_a", "whsec_b")}),
        (
            '{"default": "whsec_a", "github": ["g1", "g2"], "stripe": "whsec_s"}',
            {"default": ("whsec_a",), "github": ("g1", "g2"), "stripe": ("whsec_s",)},
        ),
        ("[]", {"default": ()}),
        ("", {}),
        ("[not json", {}),
        ('{"github": [7, ""]}', {"github": ()}),
        ("42", {"default": ("42",)}),
    ],
)
def test_secret_formats(raw: str, expected: dict[str, tuple[str, ...]]) -> None:
    assert parse_secrets(raw) == expected


# -- nothing random gets through, nothing else escapes ----------------------------------------------

header_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=200)
VERIFIERS: dict[str, Verifier] = {
    "standard-webhooks": StandardWebhookVerifier([SECRET]),
    "github": GitHubVerifier(["gh-secret"]),
    "stripe": StripeVerifier(["whsec_stripe"], tolerance=300),
    "hmac": HmacVerifier(
        ["k"], HmacSettings(header="X-Signature", prefix="v1=", timestamp_header="X-Timestamp"), tolerance=300
    ),
}
HEADER_NAMES = [
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "x-hub-signature-256",
    "stripe-signature",
    "x-signature",
    "x-timestamp",
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    scheme=st.sampled_from(sorted(VERIFIERS)),
    body=st.binary(max_size=300),
    forged=st.dictionaries(
        st.sampled_from(HEADER_NAMES),
        st.one_of(
            header_text,
            st.integers().map(str),
            st.floats().map(str),
            st.lists(header_text, max_size=4).map(" ".join),
            st.builds(lambda t, v: f"t={t},v1={v}", st.integers(), header_text),
            st.builds(lambda v: f"sha256={v}", header_text),
            st.builds(lambda v: f"v1={v}", header_text),
        ),
    ),
)
def test_no_random_input_passes_or_raises_anything_but_unauthenticated(
    scheme: str, body: bytes, forged: dict[str, str]
) -> None:
    with pytest.raises(Unauthenticated):
        VERIFIERS[scheme].verify(body, forged)


@settings(max_examples=200, deadline=None)
@given(body=st.binary(min_size=1, max_size=300))
def test_signature_of_one_body_never_verifies_another(body: bytes) -> None:
    if body == BODY:
        return
    for verifier, signed in (
        (VERIFIERS["standard-webhooks"], headers()),
        (VERIFIERS["github"], github_headers("gh-secret")),
        (VERIFIERS["stripe"], stripe_headers("whsec_stripe")),
    ):
        with pytest.raises(Unauthenticated):
            verifier.verify(body, signed)


# -- header integers and non-ASCII (issue 19) -------------------------------------------------------
# A signed timestamp is one spelling of one number: int() and float() also take "+1", " 1", "1_0",
# "01" and other scripts' digits, so a signature over one spelling would verify others.


def script(zero: int) -> dict[int, int]:
    """0-9 written in another script's digits, from its zero's code point."""
    return str.maketrans("0123456789", "".join(chr(zero + value) for value in range(10)))


ARABIC_INDIC = script(0x660)


SPELLINGS = {
    "arabic-indic digits": lambda text: text.translate(ARABIC_INDIC),
    "fullwidth digits": lambda text: text.translate(script(0xFF10)),
    "plus sign": lambda text: "+" + text,
    "leading zero": lambda text: "0" + text,
    "leading space": lambda text: " " + text,
    "underscore": lambda text: text[:4] + "_" + text[4:],
    "decimal point": lambda text: text + ".0",
}


def stripe_spelled(stamp: str, body: bytes = BODY) -> dict[str, str]:
    mac = hmac.new(b"whsec_stripe", stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"stripe-signature": f"t={stamp},v1={mac}"}


@pytest.mark.parametrize("spell", SPELLINGS.values(), ids=SPELLINGS.keys())
def test_stripe_timestamp_in_another_spelling_is_a_401_even_when_signed(spell: Callable[[str], str]) -> None:
    with pytest.raises(Unauthenticated):
        StripeVerifier(["whsec_stripe"], tolerance=300).verify(BODY, stripe_spelled(spell(str(int(time.time())))))


@pytest.mark.parametrize("spell", SPELLINGS.values(), ids=SPELLINGS.keys())
def test_standard_webhook_timestamp_in_another_spelling_is_a_401(spell: Callable[[str], str]) -> None:
    # The signature is over the number's one spelling, which the package would rebuild from any other.
    signed = headers()
    spelling = spell(signed["webhook-timestamp"])
    with pytest.raises(Unauthenticated):
        StandardWebhookVerifier([SECRET]).verify(BODY, {**signed, "webhook-timestamp": spelling})
    with pytest.raises(Unauthenticated):
        StandardWebhookVerifier([SECRET]).verify(b"\xff", {**signed, "webhook-timestamp": spelling})


@pytest.mark.parametrize("spell", SPELLINGS.values(), ids=SPELLINGS.keys())
def test_hmac_timestamp_in_another_spelling_is_a_401_even_when_signed(spell: Callable[[str], str]) -> None:
    spelling = spell(str(int(time.time())))
    settings_ = HmacSettings(header="X-Signature", timestamp_header="X-Timestamp")
    mac = hmac.new(b"k", spelling.encode() + b"." + BODY, hashlib.sha256).hexdigest()
    with pytest.raises(Unauthenticated):
        HmacVerifier(["k"], settings_, tolerance=300).verify(BODY, {"x-signature": mac, "x-timestamp": spelling})


def test_hmac_iso8601_timestamp_reads_as_rfc3339_only() -> None:
    settings_ = HmacSettings(header="X-Signature", timestamp_header="X-Timestamp", timestamp_format="iso8601")
    verifier = HmacVerifier(["k"], settings_, tolerance=300)
    now = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())

    def signed(stamp: str) -> dict[str, str]:
        mac = hmac.new(b"k", stamp.encode() + b"." + BODY, hashlib.sha256).hexdigest()
        return {"x-signature": mac, "x-timestamp": stamp}

    verifier.verify(BODY, signed(now + "Z"))
    verifier.verify(BODY, signed(now.replace("T", "t") + "z"))
    for odd in (now.replace("T", " ") + "Z", now + ",5Z", now.translate(ARABIC_INDIC) + "Z"):
        with pytest.raises(Unauthenticated):
            verifier.verify(BODY, signed(odd))


def non_ascii(headers: dict[str, str], name: str) -> dict[str, str]:
    return {**headers, name: headers[name] + " ✓"}


@pytest.mark.parametrize(
    ("verifier", "sign", "name"),
    [
        (StandardWebhookVerifier([SECRET]), headers, "webhook-signature"),
        (GitHubVerifier(["gh-secret"]), lambda: github_headers("gh-secret"), "x-hub-signature-256"),
        (StripeVerifier(["whsec_stripe"], tolerance=300), lambda: stripe_headers("whsec_stripe"), "stripe-signature"),
    ],
    ids=["standard-webhooks", "github", "stripe"],
)
def test_non_ascii_anywhere_in_a_signature_header_is_a_401(
    verifier: Verifier, sign: Callable[[], dict[str, str]], name: str
) -> None:
    signed = sign()  # signed as the test runs: a collection minutes earlier is outside the tolerance
    verifier.verify(BODY, signed)
    with pytest.raises(Unauthenticated, match="ASCII"):
        verifier.verify(BODY, non_ascii(signed, name))


def test_non_ascii_in_an_hmac_signature_or_timestamp_header_is_a_401() -> None:
    settings_ = HmacSettings(header="X-Signature", prefix="v1=", timestamp_header="X-Timestamp")
    stamp = str(int(time.time()))
    mac = hmac.new(b"k", stamp.encode() + b"." + BODY, hashlib.sha256).hexdigest()
    signed = {"x-signature": "v1=" + mac, "x-timestamp": stamp}
    verifier = HmacVerifier(["k"], settings_, tolerance=300)
    verifier.verify(BODY, signed)
    for name in signed:
        with pytest.raises(Unauthenticated, match="ASCII"):
            verifier.verify(BODY, non_ascii(signed, name))


# Every character Unicode counts as the decimal digit 0-9, by value: what int() reads as that digit.
DIGITS = {value: [c for c in map(chr, range(0x110000)) if unicodedata.decimal(c, None) == value] for value in range(10)}


@st.composite
def spellings(draw: st.DrawFn) -> tuple[int, str]:
    """A time within the tolerance, spelled with any digits, signs, zeros, spaces or underscores."""
    number = int(time.time()) + draw(st.integers(-200, 200))
    text = "".join(draw(st.sampled_from(DIGITS[int(d)][:1] * 8 + DIGITS[int(d)])) for d in str(number))
    prefix = draw(st.sampled_from(["", "", "", "+", "0", "00", " ", "\t"]))
    suffix = draw(st.sampled_from(["", "", "", " ", ".0", "\n"]))
    if draw(st.booleans()) and len(text) > 2:
        text = text[:2] + "_" + text[2:]
    return number, prefix + text + suffix


@settings(max_examples=300, deadline=None)
@given(spelled=spellings())
def test_a_signed_timestamp_verifies_in_its_one_spelling_only_and_never_raises_another_error(
    spelled: tuple[int, str],
) -> None:
    number, stamp = spelled
    standard = {**sign(BODY, SECRET, event_id="evt_1", timestamp=number), "webhook-timestamp": stamp}
    for verifier, signed in ((VERIFIERS["stripe"], stripe_spelled(stamp)), (VERIFIERS["standard-webhooks"], standard)):
        if stamp == str(number):
            verifier.verify(BODY, signed)
        else:
            with pytest.raises(Unauthenticated):
                verifier.verify(BODY, signed)
