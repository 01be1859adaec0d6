"""How real senders sign their deliveries, for tests, samples and the signing helper.

Each function returns the headers that sender puts on a delivery of `body`.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid


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
