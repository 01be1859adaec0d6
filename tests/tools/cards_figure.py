"""Writes docs/figures/cards.md: per source, a published payload (tests/fixtures/) beside the card the
bridge makes of it, rendered by the shipped cards.json. `make docs-cards` runs it; a unit test fails
when the committed file is not what it writes (tests/unit/test_docs.py).

    .venv/bin/python tests/tools/cards_figure.py
"""

from __future__ import annotations

import json
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
FIGURE = ROOT / "docs" / "figures" / "cards.md"
GITHUB_DELIVERY = "72d3162e-cc78-11e3-81ab-4c9367dc0958"  # the delivery ID of GitHub's own docs example


@dataclass(frozen=True)
class Example:
    source: str
    fixture: str  # under tests/fixtures/, or events/ for the bridge's own envelope
    what: str
    headers: dict[str, str] = field(default_factory=dict)
    note: str = ""

    def body(self) -> Any:
        base = ROOT / "events" if self.source == "default" else FIXTURES
        body = json.loads((base / self.fixture).read_text(encoding="utf-8"))
        if self.source == "stripe":
            body["data"]["object"]["metadata"] = {"identity": "alice"}
        return body


def github(name: str, event: str, what: str) -> Example:
    headers = {"x-github-event": event, "x-github-delivery": GITHUB_DELIVERY}
    return Example("github", f"github/{name}.json", what, headers)


EXAMPLES = (
    Example(
        "default",
        "body-customer-identified.json",
        "the bridge's own envelope, `POST /events` (add `title` and `summary` to it to set the card's)",
        {"webhook-id": "evt_1f4b3c2a"},
    ),
    github("pull_request", "pull_request", "octokit's `pull_request` opened example (28 KB)"),
    github("issues", "issues", "octokit's `issues` opened example"),
    github("issue_comment", "issue_comment", "octokit's `issue_comment` created example"),
    github("push", "push", "octokit's `push` example (a tag)"),
    github("workflow_run", "workflow_run", "octokit's `workflow_run` completed example"),
    Example(
        "stripe",
        "stripe/payment_intent.created.json",
        "Stripe's PaymentIntent fixture in a `payment_intent.created` event",
        note='`data.object.metadata` set to `{"identity": "alice"}`, the recipient; its `client_secret` stays out',
    ),
    Example("zendesk", "zendesk/ticket.created.json", "Zendesk's `ticket.created` example"),
    Example(
        "hubspot",
        "hubspot/contact.propertyChange.json",
        "HubSpot's example batch, its first event (each event gets its own card)",
    ),
    Example("intercom", "intercom/conversation.admin.assigned.json", "Intercom's conversation, assigned"),
    Example(
        "shopify",
        "shopify/orders.create.json",
        "Shopify's `orders/create` example",
        {"x-shopify-topic": "orders/create", "x-shopify-webhook-id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"},
        note="its IDs are beyond 2^53, so `data` carries them as strings",
    ),
    Example("twilio", "twilio/reservation.created.json", "a TaskRouter `reservation.created` callback (form fields)"),
)


def _block(language: str, text: str, title: str = "") -> str:
    fence = f'```{language} title="{title}"' if title else f"```{language}"
    return textwrap.indent(f"{fence}\n{text}\n```", "    ")


def section(example: Example) -> str:
    from bridge.domain.events import Event
    from bridge.sources.cards import content_for
    from bridge.sources.profiles import load_profiles

    body = example.body()
    headers = example.headers or ({"webhook-id": "evt_1"} if example.source == "default" else {})
    event = load_profiles()[example.source].extract(headers, body)
    assert isinstance(event, Event), f"{example.fixture}: {event}"
    content = content_for(event, 10_240)
    pretty = json.dumps(json.loads(content.text), indent=2, ensure_ascii=False)
    raw = (ROOT / "events" if example.source == "default" else FIXTURES) / example.fixture
    size = len(content.text.encode("utf-8"))
    lines = [
        f"### `{example.source}`: {event.type}",
        "",
        f"{example.what[0].upper()}{example.what[1:]}: `{raw.relative_to(ROOT)}`, {raw.stat().st_size:,} bytes;"
        f" its card, {size:,} bytes.",
    ]
    if example.note:
        lines += ["", f"Changed before rendering: {example.note}."]
    lines += [
        "",
        '=== "Card"',
        "",
        _block("json", pretty, "Content"),
        "",
        '=== "Payload"',
        "",
        _block("json", raw.read_text(encoding="utf-8").strip()),
        "",
    ]
    return "\n".join(lines)


def figure() -> str:
    head = (
        "<!-- Written by `make docs-cards` (tests/tools/cards_figure.py) from tests/fixtures/ and the shipped "
        "cards.json: do not edit by hand. -->\n"
    )
    return head + "\n" + "\n".join(section(example) for example in EXAMPLES)


def main() -> int:
    FIGURE.write_text(figure(), encoding="utf-8")
    print(f"wrote {FIGURE.relative_to(ROOT)}")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
