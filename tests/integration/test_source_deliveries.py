"""POST /events/{source}: GitHub-, Stripe- and HMAC-signed deliveries as those systems send them."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from helpers import EVENTS, Bridge, body_key, new_event_body, new_id, rfc3339
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local.senders import github_headers, stripe_headers
from local.stack import WEBHOOK_SECRET_NAME

pytestmark = pytest.mark.integration


def github_delivery(login: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((EVENTS / "body-github-pull-request.json").read_text())
    body["sender"]["login"] = login
    return body


def stripe_delivery(identity: str, event_id: str | None = None, created: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((EVENTS / "body-stripe-payment-intent.json").read_text())
    body["id"] = event_id or f"evt_{new_id()[4:28]}"
    body["created"] = int(time.time()) if created is None else created
    body["data"]["object"]["metadata"]["identity"] = identity
    return body


def login() -> str:
    return f"user-{new_id()[4:14]}"


def secret(bridge: Bridge, source: str) -> str:
    return bridge.stack.credentials.source_secrets[source]


# -- GitHub -----------------------------------------------------------------------------------------


def test_github_delivery_reaches_the_senders_call(bridge: Bridge) -> None:
    # Given alice on a call, and a GitHub pull_request delivery she caused
    name = login()
    _, call_sid = bridge.live_call(f"identity:{name}")
    raw = json.dumps(github_delivery(name))
    headers = github_headers(raw, secret(bridge, "github"), delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")

    # When GitHub posts it to /events/github
    reply = bridge.post_source("github", raw, headers)

    # Then it is delivered keyed on the signed body's digest (the delivery ID is unsigned), scoped by
    # source, and Content names the source and the delivery
    assert reply.status == 200, reply.body
    assert reply.json()["source"] == "github"
    assert reply.json()["call_sid"] == call_sid
    [message] = bridge.messages_for(body_key("github", raw))
    content = json.loads(message["content"])
    assert (content["version"], content["id"], content["type"], content["source"]) == (
        1,
        "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "pull_request",
        "github",
    )
    assert content["title"] == "#1347 Fix the retry budget"
    assert content["url"] == "https://github.com/octo-org/octo-repo/pull/1347"
    assert {key: content["data"][key] for key in ("action", "repository", "sender", "url", "number")} == {
        "action": "opened",
        "repository": "octo-org/octo-repo",
        "sender": name,
        "url": "https://github.com/octo-org/octo-repo/pull/1347",
        "number": 1347,
    }
    assert "timestamp" not in content  # GitHub sends none


def test_github_form_encoded_delivery_is_a_415_with_a_hint(bridge: Bridge) -> None:
    raw = "payload=" + json.dumps(github_delivery(login()))
    headers = {**github_headers(raw, secret(bridge, "github")), "content-type": "application/x-www-form-urlencoded"}
    reply = bridge.post_source("github", raw, headers)
    assert reply.status == 415
    assert "application/json" in reply.json()["detail"]


def test_github_tampered_body_is_a_401(bridge: Bridge) -> None:
    raw = json.dumps(github_delivery(login()))
    headers = github_headers(raw, secret(bridge, "github"))
    assert bridge.post_source("github", raw.replace("opened", "closed"), headers).status == 401


def test_github_signed_with_the_wrong_secret_is_a_401(bridge: Bridge) -> None:
    raw = json.dumps(github_delivery(login()))
    assert bridge.post_source("github", raw, github_headers(raw, "not-the-secret")).status == 401


def test_github_delivery_without_a_sender_is_acknowledged_as_ignored(bridge: Bridge) -> None:
    # Given a delivery the profile can't find a recipient in (join() over a missing login)
    body = github_delivery(login())
    del body["sender"]
    raw = json.dumps(body)

    # When it arrives
    reply = bridge.post_source("github", raw, github_headers(raw, secret(bridge, "github")))

    # Then it concerns no one: a 2xx that says why, and nothing at Twilio
    assert reply.status == 200, reply.body
    assert (reply.json()["status"], reply.json()["reason"]) == ("ignored", "no_recipient")
    assert bridge.stack.emulator.stats()["udm_requests"] == 0


def test_github_event_types_the_profile_does_not_forward_are_ignored(bridge: Bridge) -> None:
    # Given someone starring a repository: a type the shipped profile doesn't forward
    name = login()
    bridge.live_call(f"identity:{name}")
    raw = json.dumps(github_delivery(name))

    # When it arrives
    reply = bridge.post_source("github", raw, github_headers(raw, secret(bridge, "github"), event="star"))

    # Then it is acknowledged as ignored and posts nothing
    assert reply.status == 200, reply.body
    assert (reply.json()["status"], reply.json()["reason"]) == ("ignored", "type_not_forwarded")
    assert bridge.stack.emulator.stats()["udm_requests"] == 0


def test_same_delivery_id_from_two_sources_never_collides(bridge: Bridge) -> None:
    # Given the same ID used by the default source and by GitHub
    name = login()
    key, _ = bridge.live_call(f"identity:{name}")
    shared = new_id()
    raw = json.dumps(github_delivery(name))

    # When both arrive
    by_github = bridge.post_source("github", raw, github_headers(raw, secret(bridge, "github"), delivery=shared))
    by_default = bridge.post_event(new_event_body(key), event_id=shared)

    # Then both are delivered as separate messages, keyed apart at Twilio too
    assert (by_github.status, by_default.status) == (200, 200)
    assert "Idempotent-Replayed" not in by_default.headers
    assert len(bridge.messages_for(body_key("github", raw))) == 1
    assert len(bridge.messages_for(shared)) == 1


def test_github_redelivery_is_replayed(bridge: Bridge) -> None:
    name = login()
    bridge.live_call(f"identity:{name}")
    raw = json.dumps(github_delivery(name))
    headers = github_headers(raw, secret(bridge, "github"))
    first = bridge.post_source("github", raw, headers)
    again = bridge.post_source("github", raw, headers)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()


# -- Stripe -----------------------------------------------------------------------------------------


def test_stripe_event_reaches_the_identity_in_its_metadata(bridge: Bridge) -> None:
    # Given alice on a call and a payment that names her in its metadata
    name = login()
    _, call_sid = bridge.live_call(f"identity:{name}")
    body = stripe_delivery(name, created=int(time.time()) - 2)
    raw = json.dumps(body)

    # When Stripe posts it to /events/stripe
    reply = bridge.post_source("stripe", raw, stripe_headers(raw, secret(bridge, "stripe")))

    # Then the payment intent reaches her call, with the event's creation time
    assert reply.status == 200, reply.body
    [message] = bridge.messages_for(f"stripe:{body['id']}")
    assert message["call_sid"] == call_sid
    content = json.loads(message["content"])
    assert content["type"] == "payment_intent.succeeded"
    assert content["source"] == "stripe"
    assert content["timestamp"] == rfc3339(body["created"])
    assert content["data"]["id"] == body["data"]["object"]["id"]


def test_stale_stripe_timestamp_is_a_401(bridge: Bridge) -> None:
    raw = json.dumps(stripe_delivery(login()))
    reply = bridge.post_source(
        "stripe", raw, stripe_headers(raw, secret(bridge, "stripe"), timestamp=time.time() - 301)
    )
    assert reply.status == 401
    assert "tolerance" in reply.json()["detail"]


def test_stripe_tampered_body_is_a_401(bridge: Bridge) -> None:
    raw = json.dumps(stripe_delivery(login()))
    headers = stripe_headers(raw, secret(bridge, "stripe"))
    assert bridge.post_source("stripe", raw.replace("4200", "1"), headers).status == 401


def test_rotated_stripe_secrets_both_verify(bridge: Bridge, fresh_runtime: pytest.MonkeyPatch) -> None:
    # Given the stripe source configured with its old and new signing secrets
    old, new = secret(bridge, "stripe"), "whsec_rotated0123456789"
    bridge.stack.put_secret(WEBHOOK_SECRET_NAME, json.dumps({**bridge.stack.webhook_secrets(), "stripe": [old, new]}))
    name = login()
    bridge.live_call(f"identity:{name}")

    # When deliveries come signed with either
    replies = []
    for key in (old, new):
        raw = json.dumps(stripe_delivery(name))
        replies.append(bridge.post_source("stripe", raw, stripe_headers(raw, key)).status)

    # Then both verify
    assert replies == [200, 200]


def test_source_without_a_configured_secret_fails_closed(bridge: Bridge, fresh_runtime: pytest.MonkeyPatch) -> None:
    bridge.stack.put_secret(WEBHOOK_SECRET_NAME, bridge.stack.credentials.webhook_secret)  # old format: default only
    raw = json.dumps(stripe_delivery(login()))
    assert bridge.post_source("stripe", raw, stripe_headers(raw, secret(bridge, "stripe"))).status == 401


def test_old_secret_formats_keep_working_for_default(bridge: Bridge, fresh_runtime: pytest.MonkeyPatch) -> None:
    key, _ = bridge.live_call()
    bridge.stack.put_secret(WEBHOOK_SECRET_NAME, bridge.stack.credentials.webhook_secret)
    assert bridge.post_event(new_event_body(key)).status == 200
    bridge.stack.put_secret(WEBHOOK_SECRET_NAME, json.dumps([bridge.stack.credentials.webhook_secret]))
    from bridge import bootstrap

    bootstrap.reset()
    assert bridge.post_event(new_event_body(key)).status == 200


# -- unknown sources, and nothing random gets through ----------------------------------------------


def test_unknown_source_is_a_404_before_any_work(bridge: Bridge) -> None:
    reply = bridge.post_source("acme", "{}", {"content-type": "application/json"})
    assert reply.status == 404
    assert reply.json()["code"] == "unknown_source"
    assert bridge.stack.emulator.stats()["udm_requests"] == 0


header_values = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=120)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(
    source=st.sampled_from(["github", "stripe", "default"]),
    body=st.one_of(st.binary(max_size=200), st.just(b'{"sender": {"login": "x"}}')),
    headers=st.dictionaries(
        st.sampled_from(
            [
                "content-type",
                "x-hub-signature-256",
                "x-github-event",
                "x-github-delivery",
                "stripe-signature",
                "webhook-id",
                "webhook-timestamp",
                "webhook-signature",
            ]
        ),
        st.one_of(
            header_values,
            st.just("application/json"),
            st.builds(lambda v: f"sha256={v}", header_values),
            st.builds(lambda t, v: f"t={t},v1={v}", st.integers(min_value=0, max_value=2**40), header_values),
        ),
    ),
)
def test_random_deliveries_are_never_accepted_and_never_a_5xx(
    bridge: Bridge, source: str, body: bytes, headers: dict[str, str]
) -> None:
    path_source = source if source != "default" else None
    if path_source is None:
        from local.lambda_runtime import http_event

        reply = bridge.invoke(
            "IngestFunction", http_event("POST", "/events", route_key="POST /events", headers=headers, body=body)
        )
    else:
        reply = bridge.post_source(path_source, body, headers)
    assert reply.status == 401, reply.body
