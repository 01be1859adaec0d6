"""How real senders sign their deliveries, for tests, samples, the signing helper and the bench.

Each `*_headers` function returns the headers that sender puts on a delivery of `body`. This is the
one sender-side implementation: the local stack, `python -m local.sign`, the tests and bench/child.py
all sign here. It imports only a few standard library modules (no moto, no boto3, not even
`secrets`, `random` or `typing`), because bench/child.py loads it by path inside a measured
Lambda-like process that must not preload anything the handler would import.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
import uuid


def new_webhook_secret() -> str:
    """A fresh Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(os.urandom(32)).decode("ascii")


def standard_webhooks_signature(secret: str, event_id: str, timestamp: int, body: bytes | str) -> str:
    """The `webhook-signature` value: v1 and the base64 HMAC-SHA256 of "{id}.{timestamp}.{body}",
    keyed with the secret's base64 payload, as the standardwebhooks package computes it."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    # Unpadded secrets are accepted too: b64decode ignores the extra padding.
    key = base64.b64decode(secret.removeprefix("whsec_") + "==")
    mac = hmac.new(key, f"{event_id}.{timestamp}.".encode() + raw, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode("ascii")


def standard_webhooks_headers(
    body: bytes | str, secret: str, *, event_id: str | None = None, timestamp: float | None = None
) -> dict[str, str]:
    """Standard Webhooks headers for a body (a new event ID and the current time unless given)."""
    event_id = event_id or "evt_" + os.urandom(12).hex()
    stamp = int(time.time() if timestamp is None else timestamp)
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": standard_webhooks_signature(secret, event_id, stamp, body),
        "content-type": "application/json",
    }


def github_headers(
    body: bytes | str, secret: str, *, event: str = "pull_request", delivery: str | None = None
) -> dict[str, str]:
    raw = body.encode("utf-8") if isinstance(body, str) else body
    return {
        "content-type": "application/json",
        "user-agent": "GitHub-Hookshot/7c0a6b4",
        "x-github-event": event,
        "x-github-delivery": delivery or str(uuid.uuid4()),
        "x-github-hook-id": "512345678",
        "x-hub-signature": "sha1=" + hmac.new(secret.encode(), raw, hashlib.sha1).hexdigest(),
        "x-hub-signature-256": "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest(),
    }


def stripe_headers(body: bytes | str, secret: str, *, timestamp: float | None = None) -> dict[str, str]:
    raw = body.encode("utf-8") if isinstance(body, str) else body
    stamp = int(time.time() if timestamp is None else timestamp)
    signature = hmac.new(secret.encode(), f"{stamp}.".encode() + raw, hashlib.sha256).hexdigest()
    return {
        "content-type": "application/json; charset=utf-8",
        "user-agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        "stripe-signature": f"t={stamp},v1={signature}",
    }


def hmac_headers(
    body: bytes | str,
    secret: str,
    *,
    header: str = "x-signature",
    algorithm: str = "sha256",
    prefix: str = "",
    timestamp_header: str | None = None,
    timestamp: float | None = None,
) -> dict[str, str]:
    raw = body.encode("utf-8") if isinstance(body, str) else body
    headers = {"content-type": "application/json"}
    if timestamp_header:
        stamp = str(int(time.time() if timestamp is None else timestamp))
        headers[timestamp_header] = stamp
        raw = stamp.encode() + b"." + raw
    headers[header] = prefix + hmac.new(secret.encode(), raw, getattr(hashlib, algorithm)).hexdigest()
    return headers


def _iso8601(moment: float) -> str:
    # time, not datetime: see the module's docstring.
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))


def _raw(body: bytes | str) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else body


def _b64_hmac(secret: str, message: bytes, algorithm: str = "sha256") -> str:
    return base64.b64encode(hmac.new(secret.encode(), message, getattr(hashlib, algorithm)).digest()).decode("ascii")


def zendesk_headers(body: bytes | str, secret: str, *, timestamp: float | None = None) -> dict[str, str]:
    """Zendesk: base64 HMAC-SHA256 of timestamp + body, the timestamp in ISO 8601 (UTC, seconds)."""
    stamp = _iso8601(time.time() if timestamp is None else timestamp)
    return {
        "content-type": "application/json",
        "x-zendesk-account-id": "123456",
        "x-zendesk-webhook-id": "01F1KRFQ6BG29CNWFR60NK5FNY",
        "x-zendesk-webhook-invocation-id": str(int.from_bytes(os.urandom(4), "big")),
        "x-zendesk-webhook-signature-timestamp": stamp,
        "x-zendesk-webhook-signature": _b64_hmac(secret, stamp.encode() + _raw(body)),
    }


def hubspot_headers(
    body: bytes | str, secret: str, url: str, *, method: str = "POST", timestamp: float | None = None
) -> dict[str, str]:
    """HubSpot v3: base64 HMAC-SHA256 of method + URI + body + timestamp, the timestamp in milliseconds."""
    stamp = str(int((time.time() if timestamp is None else timestamp) * 1000))
    message = method.encode() + url.encode() + _raw(body) + stamp.encode()
    return {
        "content-type": "application/json",
        "user-agent": "HubSpot Connect 2.0 (http://dev.hubspot.com/)",
        "x-hubspot-request-timestamp": stamp,
        "x-hubspot-signature-v3": _b64_hmac(secret, message),
    }


def intercom_headers(body: bytes | str, secret: str) -> dict[str, str]:
    """Intercom: `X-Hub-Signature: sha1=<hex HMAC-SHA1 of the body>`, keyed with the app's client secret."""
    return {
        "content-type": "application/json",
        "user-agent": "intercom-parrot-service-client/1.0",
        "x-hub-signature": "sha1=" + hmac.new(secret.encode(), _raw(body), hashlib.sha1).hexdigest(),
    }


def shopify_headers(
    body: bytes | str, secret: str, *, topic: str = "orders/create", webhook_id: str | None = None
) -> dict[str, str]:
    """Shopify: base64 HMAC-SHA256 of the body; the webhook ID, topic and trigger time ride in headers."""
    return {
        "content-type": "application/json",
        "x-shopify-topic": topic,
        "x-shopify-webhook-id": webhook_id or str(uuid.uuid4()),
        "x-shopify-shop-domain": "example.myshopify.com",
        "x-shopify-api-version": "2025-07",
        "x-shopify-triggered-at": _iso8601(time.time()),
        "x-shopify-hmac-sha256": _b64_hmac(secret, _raw(body)),
    }


def twilio_signature(auth_token: str, url: str, params: dict[str, str] | None = None) -> str:
    """X-Twilio-Signature: base64 HMAC-SHA1 of the URL followed by each form field's name and value,
    sorted by name (JSON callbacks: the URL alone, with bodySHA256 in its query)."""
    message = url + "".join(name + value for name, value in sorted((params or {}).items()))
    return _b64_hmac(auth_token, message.encode("utf-8"), "sha1")


def twilio_form_headers(auth_token: str, url: str, params: dict[str, str]) -> dict[str, str]:
    return {
        "content-type": "application/x-www-form-urlencoded",
        "user-agent": "TwilioProxy/1.1",
        "i-twilio-idempotency-token": str(uuid.uuid4()),
        "x-twilio-signature": twilio_signature(auth_token, url, params),
    }


def twilio_json_url(url: str, body: bytes | str) -> str:
    """The URL Twilio calls with a JSON body: the body's hex SHA-256 as the bodySHA256 query parameter."""
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}bodySHA256={hashlib.sha256(_raw(body)).hexdigest()}"
