"""The console's server over loopback HTTP, on the real stack: what it serves and with which headers,
what it refuses, the front's observer hook, the feed's outcomes, its event stream and its actions.
The page itself is tested in a browser (tests/browser)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from helpers import Bridge, new_event_body, new_id, rfc3339, wait_for

from local.console import Console
from local.console.feed import Feed
from local.console.server import CSP
from local.console.views import ledger_ref
from local.front import ELIDED, HttpFront, Invocation
from local.senders import github_headers
from local.stack import LocalStack
from local.template import ROOT

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def front(stack: LocalStack) -> Iterator[HttpFront]:
    served = HttpFront(stack.functions, port=0).start()
    yield served
    served.stop()


@pytest.fixture(scope="module")
def console(stack: LocalStack, front: HttpFront) -> Iterator[Console]:
    opened = Console(stack).start()
    front.observers.append(opened.feed.record)
    yield opened
    front.observers.remove(opened.feed.record)
    opened.stop()


def action(console: Console, path: str, body: Any, **headers: str) -> requests.Response:
    sent = {
        "Origin": console.url.rstrip("/"),
        "X-Console-Token": console.token,
        "Content-Type": "application/json",
        **headers,
    }
    return requests.post(console.url.rstrip("/") + path, data=json.dumps(body), headers=sent, timeout=60)


def post_event(stack: LocalStack, front: HttpFront, body: dict[str, Any], event_id: str | None = None) -> Any:
    raw = json.dumps(body)
    headers = stack.sign(raw, event_id=event_id or new_id())
    return requests.post(f"{front.base_url}/events", data=raw.encode(), headers=headers, timeout=30)


def entry_for(console: Console, text: str) -> dict[str, Any]:
    found = wait_for(lambda: [e for e in console.feed.summaries() if text in json.dumps(e)], timeout=10)
    assert found, f"no feed entry names {text}"
    return dict(found[0])


def test_every_answer_carries_the_strict_policy(console: Console) -> None:
    for path in ("/", "/static/console.js", "/agent/cards.js", "/api/state", "/nowhere"):
        reply = requests.get(console.url.rstrip("/") + path, timeout=30)
        assert reply.headers["Content-Security-Policy"] == CSP, path
        assert reply.headers["X-Content-Type-Options"] == "nosniff"
        assert reply.headers["Cache-Control"] == "no-store"
    assert "default-src 'self'" in CSP
    assert "'unsafe-inline'" not in CSP
    assert "'unsafe-eval'" not in CSP


def test_the_page_imports_the_agents_own_renderer(console: Console) -> None:
    page = requests.get(console.url, timeout=30)
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert f'<meta name="console-token" content="{console.token}">' in page.text
    assert "Local only." in page.text
    assert "<script>" not in page.text  # no inline script: the CSP would refuse it anyway
    served = requests.get(console.url + "agent/cards.js", timeout=30)
    assert served.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert served.content == (ROOT / "agent" / "cards.js").read_bytes()
    imports = requests.get(console.url + "static/calls.js", timeout=30).text
    assert "from '/agent/cards.js'" in imports


@pytest.mark.parametrize("path", ["/static/../server.py", "/static/console.py", "/agent/cards.test.js", "/static/"])
def test_only_the_pages_own_files_are_served(console: Console, path: str) -> None:
    reply = requests.get(console.url.rstrip("/") + path, timeout=30)
    assert reply.status_code == 404
    assert reply.headers["Content-Type"] == "application/problem+json"


def test_a_request_addressed_to_another_host_is_refused(console: Console) -> None:
    # What a page on another site that rebinds its name to 127.0.0.1 would send
    reply = requests.get(console.url + "api/state", headers={"Host": f"attacker.example:{console.port}"}, timeout=30)
    assert reply.status_code == 403
    assert reply.json()["status"] == 403
    assert requests.get(console.url, headers={"Host": f"localhost:{console.port}"}, timeout=30).status_code == 200


def test_actions_need_the_pages_origin_token_and_json(console: Console, bridge: Bridge) -> None:
    _, call_sid = bridge.live_call()
    path = f"/api/calls/{call_sid}/messages"
    refusals = {
        "no origin": action(console, path, {"content": "hi"}, Origin=""),
        "another origin": action(console, path, {"content": "hi"}, Origin="http://attacker.example"),
        "no token": action(console, path, {"content": "hi"}, **{"X-Console-Token": ""}),
        "a wrong token": action(console, path, {"content": "hi"}, **{"X-Console-Token": "x" * 32}),
        "a form": action(console, path, {"content": "hi"}, **{"Content-Type": "application/x-www-form-urlencoded"}),
    }
    statuses = {why: reply.status_code for why, reply in refusals.items()}
    assert statuses == {"no origin": 403, "another origin": 403, "no token": 403, "a wrong token": 403, "a form": 415}
    assert all(reply.headers["Content-Type"] == "application/problem+json" for reply in refusals.values())
    assert stack_sent(bridge) == []  # nothing was sent from the call


def stack_sent(bridge: Bridge) -> list[Any]:
    return bridge.stack.emulator.subscriptions.messages()


def test_bad_actions_get_problems_not_errors(console: Console, bridge: Bridge) -> None:
    _, call_sid = bridge.live_call()
    unknown = "CA" + "0" * 32
    base = console.url.rstrip("/")
    answers = {
        "not JSON": requests.post(
            f"{base}/api/calls/{call_sid}/messages",
            data=b"{",
            headers={"Origin": base, "X-Console-Token": console.token, "Content-Type": "application/json"},
            timeout=30,
        ).status_code,
        "a list": action(console, f"/api/calls/{call_sid}/messages", ["hi"]).status_code,
        "no content": action(console, f"/api/calls/{call_sid}/messages", {"content": "  "}).status_code,
        "too long": action(console, f"/api/calls/{call_sid}/messages", {"content": "x" * 10241}).status_code,
        "an unknown call": action(console, f"/api/calls/{unknown}/messages", {"content": "hi"}).status_code,
        "an unknown entry": action(console, f"/api/ledger/{'0' * 24}/replay", {}).status_code,
        "a bad to": action(console, f"/api/ledger/{'0' * 24}/replay", {"to": 5}).status_code,
        "PUT": requests.put(f"{base}/api/state", timeout=30).status_code,
    }
    assert answers == {
        "not JSON": 400,
        "a list": 400,
        "no content": 400,
        "too long": 413,
        "an unknown call": 404,
        "an unknown entry": 404,
        "a bad to": 400,
        "PUT": 405,
    }
    bridge.stack.emulator.set_call_status(call_sid, "completed")
    ended = action(console, f"/api/calls/{call_sid}/messages", {"content": "hi"})
    assert ended.status_code == 409
    assert "completed" in ended.json()["detail"]


def test_a_message_from_the_call_goes_to_each_subscription(console: Console, bridge: Bridge) -> None:
    _, call_sid = bridge.live_call()

    sent = action(console, f"/api/calls/{call_sid}/messages", {"content": '{"verified": true}'})
    text = action(console, f"/api/calls/{call_sid}/messages", {"content": "call me back"})

    assert sent.status_code == 200, sent.text
    assert sent.json()["content_type"] == "application/json"
    assert text.json()["content_type"] == "text/plain"
    sid_messages = {m["sid"]: m["params"] for m in bridge.stack.emulator.subscriptions.messages()}
    assert sid_messages[sent.json()["sid"]]["Content"] == '{"verified":true}'
    assert sid_messages[text.json()["sid"]]["Content"] == "call me back"


def test_the_front_tells_observers_what_it_answered_with_secrets_elided(
    stack: LocalStack, front: HttpFront, bridge: Bridge
) -> None:
    seen: list[Invocation] = []
    front.observers.append(seen.append)
    try:
        key, call_sid = bridge.live_call()
        body = new_event_body(key)
        reply = post_event(stack, front, body, event_id="evt_observed")
        # Observers are told once the answer has gone out, so just after the client has it
        assert wait_for(lambda: [i for i in seen if i.path == "/events"])
    finally:
        front.observers.remove(seen.append)

    [invocation] = [i for i in seen if i.path == "/events"]
    assert invocation.status == reply.status_code == 200
    assert invocation.response_body == reply.content
    assert invocation.body == json.dumps(body).encode()
    assert invocation.function == "IngestFunction"
    assert invocation.headers["webhook-signature"] == ELIDED
    assert invocation.headers["webhook-id"] == "evt_observed"
    assert invocation.headers["webhook-timestamp"].isdigit()
    assert reply.json()["call_sid"] == call_sid


def test_the_feed_names_each_outcome_and_why(
    stack: LocalStack, front: HttpFront, console: Console, bridge: Bridge
) -> None:
    key, _ = bridge.live_call()
    delivered = post_event(stack, front, new_event_body(key), event_id=new_id())
    stale_id = new_id()
    post_event(stack, front, new_event_body(key, timestamp=rfc3339(time.time() - 7200)), event_id=stale_id)
    nobody = f"identity:{new_id()}"
    post_event(stack, front, new_event_body(nobody))
    forged = requests.post(
        f"{front.base_url}/events",
        data=json.dumps(new_event_body(key)).encode(),
        headers={**stack.sign("something else"), "content-type": "application/json"},
        timeout=30,
    )
    ping = (ROOT / "tests/fixtures/github/ping.json").read_bytes()
    delivery = new_id()
    headers = github_headers(ping, stack.credentials.source_secrets["github"], event="ping", delivery=delivery)
    requests.post(f"{front.base_url}/events/github", data=ping, headers=headers, timeout=30)

    got = entry_for(console, delivered.json()["event_id"])
    assert (got["outcome"], got["kind"], got["recipient"]) == ("delivered", "event", key)
    assert got["message_sids"] == [delivered.json()["message_sid"]]
    stale = entry_for(console, stale_id)
    assert stale["outcome"] == "stale"
    assert "latest start this event allows" in stale["why"]
    no_call = entry_for(console, f"{nobody} has no active call")
    assert no_call["outcome"] == "no call"
    refused = entry_for(console, forged.json()["code"])
    assert (refused["outcome"], refused["status"]) == ("refused", forged.status_code)
    ignored = entry_for(console, delivery)
    assert ignored["outcome"] == "ignored"
    assert ignored["why"] == "ping: GitHub's ping, sent when a webhook is created or tested"

    # The detail: the Content the delivered event posted, as the call received it
    detail = requests.get(f"{console.url}api/events/{got['id']}", timeout=30).json()
    [posted] = detail["content"]
    assert json.loads(posted["content"])["id"] == delivered.json()["event_id"]
    assert detail["detail"]["request"]["headers"]["webhook-signature"] == ELIDED
    assert requests.get(f"{console.url}api/events/999999999", timeout=30).status_code == 404


def test_phone_numbers_are_masked_in_the_feed_and_the_calls(
    stack: LocalStack, front: HttpFront, console: Console, bridge: Bridge
) -> None:
    number = "+15557654321"
    bridge.live_call(f"phone:{number}")
    post_event(stack, front, new_event_body(f"phone:{number}"))

    wait_for(lambda: "phone:+1555•••4321" in json.dumps(console.state()), timeout=10)
    shown = json.dumps(console.state(), ensure_ascii=False)
    assert "phone:+1555•••4321" in shown
    assert number not in shown
    assert "5557654321" not in shown


def test_the_stream_sends_each_part_then_what_changes(
    stack: LocalStack, front: HttpFront, console: Console, bridge: Bridge
) -> None:
    key, _ = bridge.live_call()
    with requests.get(console.url + "api/stream", stream=True, timeout=30) as stream:
        assert stream.headers["Content-Type"] == "text/event-stream; charset=utf-8"
        assert stream.headers["Content-Security-Policy"] == CSP
        # One byte at a time: a larger chunk would wait for bytes the stream has not sent yet.
        lines = stream.iter_lines(chunk_size=1, decode_unicode=True)
        first = read_events(lines, lambda topics: {"calls", "events", "ledger"} <= topics.keys())
        # A call registered away from the front (PUT /calls by invoke) shows as the page opens
        assert key in first["calls"]

        event_id = new_id()
        post_event(stack, front, new_event_body(key), event_id=event_id)

        later = read_events(lines, lambda topics: event_id in topics.get("events", ""))
        assert json.loads(later["events"])[0]["event_id"] == event_id


def read_events(lines: Iterator[str], done: Any, limit: int = 200) -> dict[str, str]:
    """Server-sent events as they come, by topic (the latest of each), until `done` holds."""
    topics: dict[str, str] = {}
    topic = None
    for _ in range(limit):
        line = next(lines)
        if line.startswith("event: "):
            topic = line[len("event: ") :]
        elif line.startswith("data: ") and topic is not None:
            topics[topic] = line[len("data: ") :]
            if done(topics):
                return topics
    raise AssertionError(f"the stream never got there: {sorted(topics)}")


def test_a_replay_from_the_console_is_the_clis_replay(
    stack: LocalStack, front: HttpFront, console: Console, bridge: Bridge
) -> None:
    key, call_sid = bridge.live_call()
    event_id = new_id()
    post_event(stack, front, new_event_body(key, timestamp=rfc3339(time.time() - 7200)), event_id=event_id)
    wait_for(lambda: stack_ledger(console, event_id), timeout=10)

    # Stale: the CLI's replay refuses it unless the operator names the call it is for
    refused = action(console, f"/api/ledger/{ledger_ref(event_id)}/replay", {"to": None})
    assert refused.status_code == 200, refused.text
    assert refused.json()["status"] == "refused"
    assert "name the call it is for in To" in refused.json()["detail"]
    assert bridge.messages_for(event_id) == []

    replayed = action(console, f"/api/ledger/{ledger_ref(event_id)}/replay", {"to": key})
    again = action(console, f"/api/ledger/{ledger_ref(event_id)}/replay", {"to": key})

    assert replayed.status_code == 200, replayed.text
    assert replayed.json() == again.json() | {"message_sid": replayed.json()["message_sid"]}
    assert replayed.json()["status"] == "delivered"
    assert replayed.json()["call_sid"] == call_sid
    # One UDM however often it is replayed: the CLI's IdempotencyKey
    assert len(bridge.messages_for(event_id)) == 1
    assert stack_ledger(console, event_id)["replayed_at"] is not None


def stack_ledger(console: Console, event_id: str) -> dict[str, Any] | None:
    found = [entry for entry in console.state()["ledger"] if entry["event_key"] == event_id]
    return found[0] if found else None


def test_the_feed_keeps_the_newest_and_cuts_long_bodies() -> None:
    feed = Feed(limit=3)
    for number in range(5):
        feed.record(
            Invocation(float(number), "POST", "/events", "IngestFunction", {}, b"x" * 70_000, 200, {}, b"{}", 1.0)
        )
    kept = feed.summaries()
    assert [entry["at"] for entry in kept] == [4.0, 3.0, 2.0]
    detail = feed.get(kept[0]["id"])
    assert detail is not None
    assert detail["detail"]["request"]["truncated"] is True
    assert len(detail["detail"]["request"]["body"]) == 64 * 1024
