"""schemathesis against the local front over loopback: every generated request is signed, so it gets
past authentication into the parser, the schemas and the registry; no answer may be a 5xx or differ
from openapi.yaml.

`make test` runs a short pass (FUZZ_EXAMPLES, default 10 per operation and mode); `make test-fuzz` runs
1,000 per operation. The totals line says how many cases ran and how many failed which check.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from openapi_contract import OPENAPI
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from twilio.request_validator import RequestValidator

from bridge.usecases.call_status import FormParams
from local.front import HttpFront
from local.senders import standard_webhooks_headers
from local.stack import LocalStack

pytestmark = [pytest.mark.integration, pytest.mark.fuzz]

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10"))
LIVE_KEY = "identity:fuzz-alice"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
# Named sources the signer knows; other generated names stay as they are (an unknown source: 404).
SOURCES = ("default", "github", "stripe")

schema = schemathesis.openapi.from_path(str(OPENAPI))
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=EXAMPLES)

TOTALS: Counter[str] = Counter()
_lock = threading.Lock()


class Signed(requests.auth.AuthBase):
    """Signs the request as its sender would, once requests has fixed its URL and body bytes."""

    def __init__(self, stack: LocalStack, source: str | None) -> None:
        self._stack = stack
        self._source = source

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        raw = body.encode("utf-8") if isinstance(body, str) else body
        url = urlsplit(request.url or "")
        credentials = self._stack.credentials
        if url.path in ("/twilio/call-status", "/twilio/messages"):
            validator = RequestValidator(credentials.account.auth_token)
            content_type = str(request.headers.get("Content-Type", ""))
            if url.path == "/twilio/messages" and content_type.startswith("application/json"):
                # A JSON callback: Twilio signs the URL, whose bodySHA256 is the body's digest.
                query = "&".join(part for part in (url.query, f"bodySHA256={hashlib.sha256(raw).hexdigest()}") if part)
                url = url._replace(query=query)
                request.url = urlunsplit(url)
                params = FormParams()
            else:
                # The bridge parses the form as sent.
                params = FormParams(parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True))
            # The bridge rebuilds https + Host + path + raw query.
            signed_url = f"https://{url.netloc}{url.path}" + (f"?{url.query}" if url.query else "")
            request.headers["X-Twilio-Signature"] = validator.compute_signature(signed_url, params)
        elif self._source == "github":
            secret = credentials.source_secrets["github"].encode()
            request.headers["X-Hub-Signature-256"] = "sha256=" + hmac.new(secret, raw, hashlib.sha256).hexdigest()
            request.headers.setdefault("X-GitHub-Event", "pull_request")
            request.headers.setdefault("X-GitHub-Delivery", os.urandom(8).hex())
        elif self._source == "stripe":
            stamp = int(time.time())
            secret = credentials.source_secrets["stripe"].encode()
            digest = hmac.new(secret, f"{stamp}.".encode() + raw, hashlib.sha256).hexdigest()
            request.headers["Stripe-Signature"] = f"t={stamp},v1={digest}"
        elif url.path.startswith("/events"):
            event_id = request.headers.get("webhook-id") or "evt_" + os.urandom(8).hex()
            signed = standard_webhooks_headers(raw, credentials.webhook_secret, event_id=event_id)
            for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
                request.headers[name] = signed[name]
        return request


@pytest.fixture(scope="module")
def front(stack: LocalStack, request: pytest.FixtureRequest) -> Iterator[str]:
    server = HttpFront(stack.functions, port=0).start()
    call = stack.emulator.create_call(stack.credentials.account.account_sid, status="in-progress")
    registered = requests.put(f"{server.base_url}/calls/{LIVE_KEY}", json={"call_sid": call["sid"]}, timeout=10)
    assert registered.status_code == 200, registered.text
    yield server.base_url
    server.stop()
    totals = dict(sorted(TOTALS.items()))
    totals.setdefault("server_errors", 0)
    totals.setdefault("nonconforming", 0)
    request.config.fuzz_totals = totals  # type: ignore[attr-defined]  # conftest.py prints it


def _steer(case: Any) -> str | None:
    """Sends some cases where the work is: a known source, a recipient with a live call."""
    with _lock:
        TOTALS["cases"] += 1
        TOTALS[f"cases {case.method} {case.path}"] += 1
        turn = TOTALS["cases"]
    source = None
    if "source" in (case.path_parameters or {}):
        if turn % 4 != 0:
            case.path_parameters["source"] = SOURCES[turn % 3]
        source = case.path_parameters["source"]
    elif case.path == "/events":
        source = "default"
    if isinstance(case.body, dict) and "to" in case.body and turn % 3 == 0:
        case.body["to"] = LIVE_KEY
    if source == "github" and isinstance(case.body, dict) and turn % 2 == 0:
        case.body["sender"] = {"login": LIVE_KEY.removeprefix("identity:")}
    return source


@schema.parametrize()
@pytest.mark.timeout(3600)  # the long pass runs thousands of cases per operation
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=False)
def test_signed_fuzzed_requests_get_no_5xx_and_conform_to_openapi(case: Any, front: str, stack: LocalStack) -> None:
    source = _steer(case)
    response = case.call(base_url=front, auth=Signed(stack, source), timeout=30)
    with _lock:
        TOTALS[f"status_{response.status_code}"] += 1
    try:
        case.validate_response(response, checks=CHECKS)
    except Exception:
        with _lock:
            TOTALS["server_errors" if response.status_code >= 500 else "nonconforming"] += 1
        raise


def test_the_body_a_signer_signs_is_the_body_sent(stack: LocalStack, front: str) -> None:
    # The signer works on requests' final bytes: a signed event reaches the live call.
    body = json.dumps({"type": "fuzz.check", "timestamp": "2026-11-28T10:00:00Z", "to": LIVE_KEY, "data": {}})
    request = requests.Request(
        "POST", f"{front}/events", data=body.encode(), headers={"content-type": "application/json"}
    )
    prepared = Signed(stack, "default")(request.prepare())
    reply = requests.Session().send(prepared, timeout=10)
    assert reply.status_code == 200, reply.text
