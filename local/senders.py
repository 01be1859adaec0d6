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
