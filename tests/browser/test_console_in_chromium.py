"""The console in a real browser: what `make run` shows a developer, live, and nothing it shouldn't.

Each test drives the page of one serving stack (conftest.py's `served`); after each, the page must
have asked for nothing off this machine, opened no dialog and thrown no script error.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from browsing import Seen, Served, emulator, local_sign, screenshot
from playwright.sync_api import Locator, Page, expect

from local.senders import github_headers
from local.sign import local_secret
from local.stack import TWILIO_SECRET_NAME
from local.template import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

FIXTURES = ROOT / "tests" / "fixtures"
LIVE = 15_000  # ms: "within seconds"


def panel(page: Page, key: str) -> Locator:
    """The agent panel of the live call registered under `key`."""
    return page.locator("article.call").filter(has=page.locator(".call__title", has_text=key))


def event_entry(page: Page, text: str) -> Locator:
    return page.locator("#events li").filter(has_text=text)


def unique(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(6)}"


def envelope(to: str, title: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "crm.customer.identified",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "to": to,
        "title": title,
        "data": {"customer_id": "cus_100", "name": "Katherine Johnson"},
        **extra,
    }


def alice_call(served: Served) -> str:
    reply = requests.get(f"{served.front}/calls/identity:alice", timeout=30)
    assert reply.status_code == 200, reply.text
    return str(reply.json()["call_sid"])


def test_the_demo_call_shows_with_its_card(page: Page, served: Served) -> None:
    alice = panel(page, "identity:alice")
    expect(alice).to_have_count(1)
    expect(page.locator(".local-only")).to_contain_text("Local only")
    # The registry's SDK leg, under alice's key and the caller's number, masked
    expect(alice.locator(".leg")).to_contain_text(alice_call(served))
    expect(alice.locator(".call__title")).to_have_text(re.compile(r"^identity:alice · phone:\+1555•••\d{4}$"))
    expect(alice.locator(".leg time")).to_have_count(1)
    # The demo's last event, rendered by agent/cards.js as the agent's app renders it
    card = alice.locator(".udm-card").filter(has_text="Grace Hopper is on the line")
    expect(card).to_be_visible()
    expect(card.locator(".udm-card__summary")).to_have_text("Platinum customer cus_077, no open tickets.")
    assert not re.search(r"\+1555\d{7}", page.locator("main").inner_text())
    screenshot(card, "card-demo.png")


def test_a_signed_event_sent_with_local_sign_appears_on_alices_panel_without_a_reload(
    page: Page, served: Served, seen: Seen, tmp_path: Path
) -> None:
    loads = len(seen.navigations)
    title = unique("Ada is calling about order")
    body = envelope("identity:alice", title, summary="Sent with local.sign --send while the console was open.")

    output = local_sign(served, body, tmp_path)

    assert '"status": "delivered"' in output, output
    alice = panel(page, "identity:alice")
    expect(alice.locator(".udm-card").first.locator(".udm-card__title")).to_have_text(title, timeout=LIVE)
    expect(event_entry(page, "identity:alice").filter(has_text="delivered").first).to_be_visible()
    assert len(seen.navigations) == loads, "the page reloaded"


def test_an_ignored_event_shows_in_the_stream_with_its_reason(page: Page, served: Served) -> None:
    # GitHub's own ping payload, signed as GitHub signs it
    body = (FIXTURES / "github" / "ping.json").read_bytes()
    delivery = unique("ping")
    headers = github_headers(body, local_secret(served.endpoints["aws"], "github"), event="ping", delivery=delivery)
    reply = requests.post(f"{served.front}/events/github", data=body, headers=headers, timeout=30)
    assert reply.json()["status"] == "ignored"

    entry = event_entry(page, delivery)
    expect(entry.locator(".badge")).to_have_text("ignored", timeout=LIVE)
    expect(entry.locator(".why")).to_have_text("ping: GitHub's ping, sent when a webhook is created or tested")

    # Expanded: the headers with the signatures elided, the body, the answer
    entry.locator("summary").click()
    request_headers = entry.locator("dl.headers").first
    expect(request_headers).to_contain_text("x-github-event")
    row = request_headers.locator("div").filter(has=page.locator("dt", has_text=re.compile(r"^x-hub-signature-256$")))
    expect(row.locator("dd")).to_have_text("(elided)")
    expect(entry.locator("pre").first).to_contain_text("Anything added dilutes everything else.")
    expect(entry.locator("pre").nth(1)).to_contain_text('"status": "ignored"')
    assert headers["x-hub-signature-256"].split("=", 1)[1] not in page.content()


def test_a_message_sent_from_alices_panel_reaches_the_crm_receiver(page: Page, served: Served) -> None:
    note = unique("callback requested")
    alice = panel(page, "identity:alice")

    alice.get_by_label("Message from the agent's app").fill(json.dumps({"note": note}))
    alice.get_by_role("button", name="Send from this call").click()

    expect(alice.locator("form.send output")).to_contain_text("Twilio called the subscription, which answered 204")
    sid = re.search(r"Sent (KX[0-9a-f]{32})", alice.locator("form.send output").inner_text())
    assert sid, alice.locator("form.send output").inner_text()
    # The CRM's receiver verified it (make run prints what it verified)...
    printed = served.said(f"CRM: verified webhook {sid[1]}")
    assert f'"note": "{note}"' in printed
    assert '"from": "identity:alice"' in printed
    # ...and the panel says so, live
    forwarded = alice.locator(".sent-list li").filter(has_text=sid[1]).locator(".forwarded--verified")
    expect(forwarded).to_contain_text(note, timeout=LIVE)


def test_replaying_a_ledger_entry_delivers_it(page: Page, served: Served, tmp_path: Path) -> None:
    # An event from before alice's call began: stale, so ledgered, not delivered
    event_id = unique("evt_stale")
    title = unique("A callback promised yesterday")
    old = (datetime.now(UTC) - timedelta(hours=2)).isoformat(timespec="seconds").replace("+00:00", "Z")
    body = envelope("identity:alice", title, timestamp=old)
    output = local_sign(served, body, tmp_path, "--keep-time", "--id", event_id)
    assert '"status": "stale"' in output, output
    expect(event_entry(page, event_id).locator(".badge")).to_have_text("stale", timeout=LIVE)
    alice = panel(page, "identity:alice")
    expect(alice.locator(".udm-card__title", has_text=title)).to_have_count(0)

    row = page.locator("#ledger tr").filter(has_text=event_id)
    expect(row.locator(".badge")).to_have_text("stale", timeout=LIVE)
    expect(row.locator(".replayed")).to_have_text("Not replayed yet.")
    # Stale: not to whatever call alice is on now, only to the call the operator names
    row.get_by_role("button", name="Replay").click()
    expect(row.locator("output")).to_contain_text("refused: it was too old", timeout=LIVE)
    row.get_by_label("To (a stale event needs one)").fill("identity:alice")
    row.get_by_role("button", name="Replay").click()

    call_sid = alice_call(served)
    expect(row.locator("output")).to_have_text(f"delivered to {call_sid}", timeout=LIVE)
    expect(alice.locator(".udm-card").first.locator(".udm-card__title")).to_have_text(title, timeout=LIVE)
    expect(row.locator(".replayed")).to_contain_text("Replayed ", timeout=LIVE)
    # Through the CLI's own replay: the original key and the call as IdempotencyKey, once
    messages = emulator(served, "GET", "/_emulator/messages")
    assert [m["call_sid"] for m in messages if m["idempotency_key"] == f"{event_id}@{call_sid}"] == [call_sid]


def test_the_cards_of_a_github_pull_request_show_as_the_agents_app_shows_them(
    page: Page, served: Served, tmp_path: Path
) -> None:
    placed = emulator(
        served,
        "POST",
        "/_emulator/calls/inbound",
        identity="Codertocat",
        status_callback=f"{served.front}/twilio/call-status",
    )
    emulator(served, "POST", f"/_emulator/calls/{placed['child']}/answer")
    codertocat = panel(page, "identity:Codertocat")
    expect(codertocat).to_have_count(1, timeout=LIVE)

    output = local_sign(served, (FIXTURES / "github" / "pull_request.json").read_bytes(), tmp_path, "--as", "github")

    assert '"status": "delivered"' in output, output
    card = codertocat.locator(".udm-card").first
    link = card.locator(".udm-card__title a")
    expect(link).to_have_text("#2 Update the README with new information.", timeout=LIVE)
    expect(link).to_have_attribute("href", "https://github.com/Codertocat/Hello-World/pull/2")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    screenshot(codertocat.locator(".message").first.locator(".udm-card"), "card-github-pull-request.png")
    emulator(served, "POST", f"/_emulator/calls/{placed['child']}/hangup")
    expect(codertocat).to_have_count(0, timeout=LIVE)


HOSTILE_TITLE = '<img src=x onerror="window.__pwned=1;alert(1)">Refund <script>alert(2)</script>'
HOSTILE_LINK = "javascript:alert(document.domain)"


def _udm(served: Served, call_sid: str, content: dict[str, Any]) -> None:
    """A UDM straight to Twilio (the emulator) with the account's credentials: whatever a call may receive."""
    secret = boto3.client(
        "secretsmanager",
        endpoint_url=served.endpoints["aws"],
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    ).get_secret_value(SecretId=TWILIO_SECRET_NAME)
    account = json.loads(secret["SecretString"])
    reply = requests.post(
        f"{served.endpoints['twilio']}/2010-04-01/Accounts/{account['account_sid']}/Calls/{call_sid}/UserDefinedMessages.json",
        data={"Content": json.dumps(content), "IdempotencyKey": unique("hostile")},
        auth=(account["account_sid"], account["auth_token"]),
        timeout=30,
    )
    assert reply.status_code == 201, reply.text


def test_a_hostile_event_renders_inert_in_the_stream_and_the_agent_panel(
    page: Page, served: Served, seen: Seen, tmp_path: Path
) -> None:
    event_id = unique("evt_hostile")
    body = envelope(
        "identity:alice",
        HOSTILE_TITLE,
        summary='<a href="javascript:alert(3)">open</a> <svg onload=alert(4)>',
        data={"customer_id": "cus_666", "name": '"><script>alert(5)</script>', "profile_url": HOSTILE_LINK},
    )
    output = local_sign(served, body, tmp_path, "--id", event_id)
    assert '"status": "delivered"' in output, output
    # A card no bridge would send: a javascript: URL and markup in every text
    _udm(
        served,
        alice_call(served),
        {
            "version": 1,
            "id": unique("evt_raw"),
            "type": "crm.note",
            "title": "<script>window.__pwned=6</script>Raw card",
            "url": HOSTILE_LINK,
            "fields": [{"label": "<b onmouseover=alert(7)>Link</b>", "value": "<img src=x onerror=alert(8)>"}],
            "data": {},
        },
    )

    alice = panel(page, "identity:alice")
    # Shown as the text it is, in the agent panel...
    expect(alice.locator(".udm-card__title").filter(has_text="Raw card")).to_have_text(
        "<script>window.__pwned=6</script>Raw card", timeout=LIVE
    )
    expect(alice.locator(".udm-card__title").filter(has_text="Refund")).to_have_text(HOSTILE_TITLE)
    raw = alice.locator(".udm-card").filter(has_text="Raw card")
    expect(raw.locator("dd")).to_have_text("<img src=x onerror=alert(8)>")
    expect(raw.locator("a")).to_have_count(0)  # a javascript: URL is no link
    hostile = alice.locator(".message").filter(has_text="Refund")
    hostile.locator(".message__raw summary").click()
    expect(hostile.locator(".message__raw pre")).to_contain_text("<script>alert(5)</script>")
    screenshot(hostile.locator(".udm-card"), "card-hostile.png")

    # ...and in the stream's body, answer and Content
    entry = event_entry(page, event_id)
    entry.locator("summary").click()
    expect(entry.locator("pre").first).to_contain_text(HOSTILE_LINK)
    expect(entry.locator("pre").last).to_contain_text("<svg onload=alert(4)>")

    time.sleep(0.5)  # an onerror or onload would have fired by now
    for dangerous in ("main img", "main script", "main svg", "main iframe", "[onerror]", "[onload]", "[onmouseover]"):
        assert page.locator(dangerous).count() == 0, dangerous
    assert page.locator("a[href^='javascript:' i]").count() == 0
    assert page.evaluate("() => window.__pwned") is None
    assert not seen.dialogs


def test_the_console_works_from_the_keyboard_and_names_every_control(page: Page, served: Served) -> None:
    # Every field has a label and every button a name
    unnamed = page.locator("main textarea, main input, main button").evaluate_all(
        "controls => controls.filter(c => !(c.labels && c.labels.length) && !c.textContent.trim()).length"
    )
    assert unnamed == 0
    # An event opens from the keyboard...
    first = page.locator("#events li").first
    first.locator("summary").focus()
    page.keyboard.press("Enter")
    expect(first.locator(".detail h4").first).to_have_text("Request headers")
    # ...and a message goes from alice's panel with Tab and Enter only
    note = unique("typed")
    box = panel(page, "identity:alice").get_by_label("Message from the agent's app")
    box.focus()
    page.keyboard.press("Control+A")
    page.keyboard.type(json.dumps({"typed": note}))
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    served.said(note)
    expect(panel(page, "identity:alice").locator("form.send output")).to_contain_text("Sent KX")


def test_every_request_the_console_makes_stays_on_this_machine(page: Page, served: Served, seen: Seen) -> None:
    # Open what loads more: an event's detail, a card's Content
    page.locator("#events li summary").first.click()
    expect(page.locator("#events li .detail h4").first).to_be_visible()
    page.locator(".message__raw summary").first.click()
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-events", "shown")

    console = f"127.0.0.1:{served.console.rsplit(':', 1)[1].strip('/')}"
    assert seen.requests, "the page asked for nothing"
    assert {re.sub(r"^https?://([^/]+)/.*$", r"\1", url) for url in seen.requests} == {console}
    assert {"/agent/cards.js", "/api/stream"} <= {re.sub(r"^https?://[^/]+", "", url) for url in seen.requests}
    # Every answer carries the strict policy: this origin only, no inline script
    assert seen.csp
    assert all(policy and policy.startswith("default-src 'self';") for policy in seen.csp.values()), seen.csp


def test_the_console_as_the_docs_show_it(page: Page, served: Served, tmp_path: Path) -> None:
    """docs/console.md's picture: a new call with its cards, a message sent from it and verified by the
    CRM, a replayed ledger entry, and events of every common outcome in the stream."""
    placed = emulator(
        served,
        "POST",
        "/_emulator/calls/inbound",
        identity="carol",
        status_callback=f"{served.front}/twilio/call-status",
    )
    emulator(served, "POST", f"/_emulator/calls/{placed['child']}/answer")
    carol = panel(page, "identity:carol")
    expect(carol).to_have_count(1, timeout=LIVE)
    expect(page.locator("article.call").first).to_have_attribute("data-call", placed["child"])  # newest first

    # An event from before her call: stale, then replayed from the ledger
    old = (datetime.now(UTC) - timedelta(hours=1)).isoformat(timespec="seconds").replace("+00:00", "Z")
    late = unique("evt_late")
    yesterday = envelope(
        "identity:carol", "Callback promised yesterday", timestamp=old, summary="Carol asked to be called back."
    )
    assert '"status": "stale"' in local_sign(served, yesterday, tmp_path, "--keep-time", "--id", late)
    row = page.locator("#ledger tr").filter(has_text=late)
    row.get_by_label("To (a stale event needs one)").fill("identity:carol")
    row.get_by_role("button", name="Replay").click()
    expect(row.locator("output")).to_contain_text("delivered", timeout=LIVE)

    # A card now, a GitHub ping and an event for someone not on a call
    today = envelope("identity:carol", "Carol Shaw is on the line", summary="Platinum customer, 1 open ticket.")
    today["data"] = {"customer_id": "cus_314", "name": "Carol Shaw", "tier": "platinum", "open_tickets": 1}
    assert '"status": "delivered"' in local_sign(served, today, tmp_path)
    ping = (FIXTURES / "github" / "ping.json").read_bytes()
    headers = github_headers(ping, local_secret(served.endpoints["aws"], "github"), event="ping")
    requests.post(f"{served.front}/events/github", data=ping, headers=headers, timeout=30)
    bob = unique("identity:bob")
    local_sign(served, envelope(bob, "For Bob"), tmp_path)

    # Her answer, from the panel, to the CRM
    carol.get_by_label("Message from the agent's app").fill('{"callback": "done"}')
    carol.get_by_role("button", name="Send from this call").click()
    expect(carol.locator(".forwarded--verified")).to_contain_text('"callback": "done"', timeout=LIVE)

    expect(carol.locator(".udm-card__title")).to_have_text(["Carol Shaw is on the line", "Callback promised yesterday"])
    expect(event_entry(page, f"{bob} has no active call").locator(".badge")).to_have_text("no call", timeout=LIVE)
    outcomes = set(page.locator("#events .badge").all_inner_texts())
    assert {"delivered", "ignored", "stale", "no call"} <= outcomes, outcomes
    expect(row.locator(".replayed")).to_contain_text("Replayed ", timeout=LIVE)
    page.set_viewport_size({"width": 1400, "height": 1250})
    page.evaluate("() => window.scrollTo(0, 0)")
    screenshot(page, "console.png")
    emulator(served, "POST", f"/_emulator/calls/{placed['child']}/hangup")
