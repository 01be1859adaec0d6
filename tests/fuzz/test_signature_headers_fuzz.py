"""Signature headers fuzzed over real HTTP: non-ASCII anywhere, timestamps in any spelling an int()
or a date parser might take. Every request is signed over exactly what it sends, so it reaches
the timestamp check and past it; no answer may be a 5xx, and a timestamp that is not its number's
one ASCII spelling, or a signature header with non-ASCII in it, is always refused.

`make test` runs a short pass (FUZZ_EXAMPLES, default 10); `make test-fuzz` runs 1,000.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import time
import unicodedata
from collections.abc import Iterator

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from bridge.sources.profiles import load_profiles
from bridge.sources.signatures import signed_message
from local.front import HttpFront
from local.senders import standard_webhooks_signature
from local.stack import LocalStack

pytestmark = [pytest.mark.integration, pytest.mark.fuzz]

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10"))
PROFILES = load_profiles()
# Every character Unicode reads as the digit 0-9, by value: what int() and float() take as that digit.
DIGITS = {value: [c for c in map(chr, range(0x110000)) if unicodedata.decimal(c, None) == value] for value in range(10)}
ONE_SPELLING = re.compile(r"0|[1-9][0-9]*")
NON_ASCII = st.text(st.characters(min_codepoint=0x80, exclude_categories=["Cs", "Cc", "Zl", "Zp"]), min_size=1)
BODY = json.dumps({"type": "fuzz.signature", "timestamp": "2026-11-28T10:00:00Z", "to": "identity:nobody", "data": {}})


@pytest.fixture(scope="module")
def front(stack: LocalStack) -> Iterator[str]:
    server = HttpFront(stack.functions, port=0).start()
    yield server.base_url
    server.stop()


@st.composite
def integers(draw: st.DrawFn, number: int) -> str:
    """`number` in another spelling, now and then its own: other scripts' digits, a sign, zeros,
    spaces, underscores, a fraction or an exponent."""
    text = "".join(draw(st.sampled_from(DIGITS[int(d)][:1] * 6 + DIGITS[int(d)])) for d in str(number))
    if draw(st.booleans()) and len(text) > 3:
        text = text[:3] + draw(st.sampled_from(["_", " ", ",", "\u00a0"])) + text[3:]
    prefix = draw(st.sampled_from(["", "", "", "+", "-", "0", "00"]))
    suffix = draw(st.sampled_from(["", "", "", ".0", "e0", "0" * 30, " "]))
    return prefix + text + suffix


@st.composite
def times(draw: st.DrawFn, moment: float) -> str:
    """An RFC 3339 time in another spelling, now and then its own."""
    text = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))
    text = "".join(draw(st.sampled_from(DIGITS[int(c)][:1] * 6 + DIGITS[int(c)])) if c.isdigit() else c for c in text)
    text = text.replace("T", draw(st.sampled_from(["T", "t", " ", "_"]))).replace(
        "Z", draw(st.sampled_from(["Z", "z", "+00:00", "+0000", "", "Z\u200b"]))
    )
    return text


def signature_noise(draw: st.DrawFn, value: str) -> tuple[str, bool]:
    """The header as signed, or with non-ASCII slipped in (then it must be refused)."""
    if not draw(st.booleans()):
        return value, False
    at = draw(st.integers(0, len(value)))
    return value[:at] + draw(NON_ASCII) + value[at:], True


def send(front: str, path: str, headers: dict[str, str], body: str = BODY) -> requests.Response:
    # UTF-8 bytes on the wire: http.client would only take latin-1 text.
    encoded = {name: value.encode("utf-8") for name, value in headers.items()}
    return requests.post(f"{front}{path}", data=body.encode("utf-8"), headers=encoded, timeout=30)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(source=st.sampled_from(["default", "stripe", "zendesk", "hubspot", "github", "twilio"]), data=st.data())
def test_signature_headers_with_non_ascii_or_odd_integers_never_get_a_5xx(
    front: str, stack: LocalStack, source: str, data: st.DataObject
) -> None:
    secret = stack.webhook_secrets()[source]
    now = int(time.time())
    draw = data.draw
    must_refuse = False
    path = "/events" if source == "default" else f"/events/{source}"
    if source == "default":
        stamp = draw(integers(now))
        signature = standard_webhooks_signature(secret, "evt_fuzz", stamp, BODY)  # type: ignore[arg-type]
        signature, noisy = signature_noise(draw, signature)
        headers = {"webhook-id": "evt_fuzz", "webhook-timestamp": stamp, "webhook-signature": signature}
        must_refuse = noisy or not ONE_SPELLING.fullmatch(stamp)
    elif source == "stripe":
        stamp = draw(integers(now))
        mac = hmac.new(secret.encode(), stamp.encode() + b"." + BODY.encode(), hashlib.sha256).hexdigest()
        signature, noisy = signature_noise(draw, f"t={stamp},v1={mac}")
        headers = {"stripe-signature": signature}
        must_refuse = noisy or not ONE_SPELLING.fullmatch(stamp)
    elif source in ("zendesk", "hubspot"):
        hmac_settings = PROFILES[source].hmac
        assert hmac_settings is not None
        assert hmac_settings.timestamp_header is not None
        if hmac_settings.timestamp_format == "iso8601":
            stamp = draw(times(now))
            odd = not stamp.isascii()
        else:
            stamp = draw(integers(now * 1000 if hmac_settings.timestamp_format == "unix-ms" else now))
            odd = not ONE_SPELLING.fullmatch(stamp)
        url = f"https://{front.removeprefix('http://')}{path}"
        signed = {hmac_settings.timestamp_header.lower(): stamp}
        message = signed_message(hmac_settings, BODY.encode(), signed, timestamp=stamp, url=url, method="POST")
        mac = hmac.new(secret.encode(), message, getattr(hashlib, hmac_settings.algorithm)).digest()
        text = mac.hex() if hmac_settings.encoding == "hex" else base64.b64encode(mac).decode()
        signature, noisy = signature_noise(draw, hmac_settings.prefix + text)
        headers = {**signed, hmac_settings.header: signature}
        must_refuse = noisy or odd
    elif source == "github":
        mac = hmac.new(secret.encode(), BODY.encode(), hashlib.sha256).hexdigest()
        signature, must_refuse = signature_noise(draw, "sha256=" + mac)
        headers = {"x-hub-signature-256": signature, "x-github-event": "pull_request", "x-github-delivery": "d1"}
    else:
        path = "/twilio/messages"
        url = f"https://{front.removeprefix('http://')}{path}"
        params = {"CallSid": "CA" + "0" * 32, "Sid": "KX" + "0" * 32, "Content": "{}"}
        signature, must_refuse = signature_noise(draw, RequestValidator(secret).compute_signature(url, params))
        headers = {"x-twilio-signature": signature, "content-type": "application/x-www-form-urlencoded"}
        reply = send(front, path, headers, "&".join(f"{k}={v}" for k, v in params.items()))
        assert reply.status_code < 500, reply.text
        assert reply.status_code == 403 or not must_refuse, reply.text
        return
    reply = send(front, path, {"content-type": "application/json", **headers})
    assert reply.status_code < 500, reply.text
    assert reply.status_code == 401 or not must_refuse, (headers, reply.text)
