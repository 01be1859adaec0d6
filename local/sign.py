"""Signing helper for senders: Standard Webhooks headers for a body, a ready curl line, or a send.

    python -m local.sign body.json                      # headers + curl line for the local front
    python -m local.sign body.json --send               # sign and POST it, print the answer
    python -m local.sign body.json --secret whsec_...   # sign with an explicit secret
    python -m local.sign body.json --as zendesk --send  # sign as GitHub, Stripe, Zendesk, HubSpot, ... do
    python -m local.sign --resign events/ingest-delivered.json   # refresh a sample event's signature

The body's event time (the envelope's `timestamp`, Stripe's `created`, ...) is set to now unless
--keep-time: freshness would find a sample's fixed date too old for any call.

Without --secret, the secret is read the way the bridge reads it: from the running local stack's
Secrets Manager. `make run` says where that is in .run/stack.json (moto on 127.0.0.1:5005 unless
that port was taken); without a running stack, the default ports.
"""

from __future__ import annotations

import argparse
import base64
import json
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from bridge.sources.signatures import parse_secrets
from local import state
from local.senders import (
    github_headers,
    hubspot_headers,
    intercom_headers,
    shopify_headers,
    standard_webhooks_headers,
    stripe_headers,
    zendesk_headers,
)
from local.stack import TWILIO_SECRET_NAME, WEBHOOK_SECRET_NAME, aws_environment

DEFAULT_AWS = state.DEFAULT_AWS
# The named sources this helper signs for, each posting to /events/<sender>.
SENDERS = ("github", "stripe", "zendesk", "hubspot", "intercom", "shopify")


def _local_secret_string(name: str, aws_endpoint: str) -> str:
    import boto3

    env = aws_environment(aws_endpoint)
    client = boto3.client(
        "secretsmanager",
        endpoint_url=aws_endpoint,
        region_name=env["AWS_DEFAULT_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    return str(client.get_secret_value(SecretId=name)["SecretString"])


def local_secret(aws_endpoint: str = DEFAULT_AWS, source: str = "default") -> str:
    """A source's webhook secret from the running local stack (the newest, during a rotation)."""
    secrets = parse_secrets(_local_secret_string(WEBHOOK_SECRET_NAME, aws_endpoint)).get(source, ())
    if not secrets:
        raise SystemExit(f"the local stack has no webhook secret for source {source!r}")
    return secrets[-1]


def local_secrets(aws_endpoint: str = DEFAULT_AWS) -> dict[str, str]:
    """Every source's newest webhook secret from the running local stack."""
    parsed = parse_secrets(_local_secret_string(WEBHOOK_SECRET_NAME, aws_endpoint))
    return {source: values[-1] for source, values in parsed.items() if values}


def local_auth_token(aws_endpoint: str = DEFAULT_AWS) -> str:
    """The Twilio auth token of the running local stack, which signs status callbacks."""
    return str(json.loads(_local_secret_string(TWILIO_SECRET_NAME, aws_endpoint))["auth_token"])


def resign_twilio_event(event: dict[str, Any], auth_token: str, public_base_url: str | None) -> dict[str, Any]:
    """Gives a status callback event the X-Twilio-Signature Twilio would send for it."""
    from urllib.parse import parse_qs

    from twilio.request_validator import RequestValidator

    from bridge.domain.inbound import HttpRequest, signed_url

    body = base64.b64decode(event["body"]) if event.get("isBase64Encoded") else str(event.get("body", "")).encode()
    request = HttpRequest(
        host=event["headers"].get("host", ""),
        raw_path=event["rawPath"],
        raw_query=event.get("rawQueryString", ""),
        body=body,
        headers=event["headers"],
    )
    params = parse_qs(body.decode(), keep_blank_values=True)
    flat = {name: values[0] for name, values in params.items()}
    signature = RequestValidator(auth_token).compute_signature(signed_url(request, public_base_url), flat)
    return {**event, "headers": {**event["headers"], "x-twilio-signature": signature}}


def resign_event(event: dict[str, Any], secrets: dict[str, str]) -> dict[str, Any]:
    """Gives an API Gateway event file fresh signature headers for its own body, the way its sender
    signs: Standard Webhooks, GitHub or Stripe (by the headers it carries), with `secrets[source]`."""
    headers = dict(event.get("headers", {}))
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body).decode("utf-8")
    body = _happened_now(body, headers)
    if "x-hub-signature-256" in headers:
        headers.update(
            github_headers(
                body,
                secrets["github"],
                event=headers.get("x-github-event", "ping"),
                delivery=headers.get("x-github-delivery"),
            )
        )
    elif "stripe-signature" in headers:
        headers.update(stripe_headers(body, secrets["stripe"]))
    elif "webhook-signature" in headers:
        headers.update(standard_webhooks_headers(body, secrets["default"], event_id=headers.get("webhook-id")))
    return {**event, "headers": headers, "body": body, "isBase64Encoded": False}


def _happened_now(body: str, headers: dict[str, str]) -> str:
    """The body with its event time set to now, so that freshness judges it against today's calls:
    the envelope's `timestamp`, or Stripe's `created`. GitHub's deliveries carry none."""
    sender = (
        "stripe" if "stripe-signature" in headers else "standard-webhooks" if "webhook-signature" in headers else ""
    )
    return with_event_time_now(body, sender)


# Where each sender's body states when its event happened, and in which form.
_EVENT_TIME: dict[str, tuple[tuple[str | int, ...], str]] = {
    "standard-webhooks": (("timestamp",), "rfc3339"),
    "stripe": (("created",), "seconds"),
    "zendesk": (("time",), "rfc3339"),
    "hubspot": ((0, "occurredAt"), "milliseconds"),
    "intercom": (("created_at",), "seconds"),
}


def with_event_time_now(body: str, sender: str) -> str:
    """A sample body whose event happened now (freshness would find a fixed date too old for a call)."""
    if sender not in _EVENT_TIME:
        return body
    path, form = _EVENT_TIME[sender]
    try:
        parsed = json.loads(body)
        holder = parsed
        for step in path[:-1]:
            holder = holder[step]
        if path[-1] not in holder:
            return body
    except (ValueError, LookupError, TypeError):
        return body
    now = datetime.now(UTC)
    values = {
        "rfc3339": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "seconds": int(now.timestamp()),
        "milliseconds": int(now.timestamp() * 1000),
    }
    holder[path[-1]] = values[form]
    return json.dumps(parsed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", help="a JSON body to sign, or with --resign an API Gateway event file")
    parser.add_argument("--secret", help="the signing secret (default: the local stack's for --as)")
    parser.add_argument(
        "--as",
        dest="sender",
        choices=["standard-webhooks", *SENDERS],
        default="standard-webhooks",
        help="sign the way this sender does; a named sender posts to /events/<sender>",
    )
    parser.add_argument("--id", dest="event_id", help="webhook-id to use (default: a new one)")
    parser.add_argument("--url", help="where to POST (default: the local front's route for --as)")
    parser.add_argument("--aws-endpoint", help="moto's URL (default: the running stack's, from .run/stack.json)")
    parser.add_argument("--send", action="store_true", help="POST the signed body and print the answer")
    parser.add_argument("--resign", action="store_true", help="rewrite an event file's signature in place")
    parser.add_argument("--keep-time", action="store_true", help="send the body's event time as it is, not now")
    args = parser.parse_args(argv)
    stack = state.endpoints()
    args.aws_endpoint = args.aws_endpoint or stack.aws
    source = args.sender if args.sender in SENDERS else "default"
    secret = args.secret or local_secret(args.aws_endpoint, source)
    url = args.url or stack.front + ("/events" if source == "default" else f"/events/{source}")
    path = Path(args.file)

    if args.resign:
        raw = _local_secret_string(WEBHOOK_SECRET_NAME, args.aws_endpoint) if not args.secret else None
        every = {k: v[-1] for k, v in parse_secrets(raw).items() if v} if raw else {source: secret}
        event = resign_event(json.loads(path.read_text()), every)
        path.write_text(json.dumps(event, indent=2) + "\n")
        print(f"re-signed {path}")
        return 0

    body = path.read_text() if args.keep_time else with_event_time_now(path.read_text(), args.sender)
    if args.sender == "github":
        headers = github_headers(body, secret, delivery=args.event_id)
    elif args.sender == "stripe":
        headers = stripe_headers(body, secret)
    elif args.sender == "zendesk":
        headers = zendesk_headers(body, secret)
    elif args.sender == "hubspot":
        headers = hubspot_headers(body, secret, url)
    elif args.sender == "intercom":
        headers = intercom_headers(body, secret)
    elif args.sender == "shopify":
        headers = shopify_headers(body, secret, webhook_id=args.event_id)
    else:
        headers = standard_webhooks_headers(body, secret, event_id=args.event_id)
    if args.send:
        reply = requests.post(url, data=body.encode("utf-8"), headers=headers, timeout=30)
        print(f"HTTP {reply.status_code}")
        for name in ("Content-Type", "Retry-After", "Idempotent-Replayed"):
            if name in reply.headers:
                print(f"{name}: {reply.headers[name]}")
        print(reply.text)
        return 0 if reply.ok else 1
    for name, value in headers.items():
        print(f"{name}: {value}")
    flags = " ".join(f"-H {shlex.quote(f'{k}: {v}')}" for k, v in headers.items())
    # The body as signed, not the file: its event time was set to now unless --keep-time.
    print(f"\ncurl -sS -X POST {shlex.quote(url)} {flags} --data-binary {shlex.quote(body)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
