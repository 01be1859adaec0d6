"""The udm-bridge operations CLI against the local stack's DynamoDB (moto's server)."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import Bridge, ledger_entry, new_call_sid, new_event_body, new_id, rfc3339, wait_for

from local.stack import LocalStack
from ops.cli import main

pytestmark = pytest.mark.integration


def run_cli(*argv: str) -> tuple[int, str]:
    """The CLI's own output, apart from what stream handlers log to stdout in the background."""
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def cli(stack: LocalStack, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    return run_cli("--local", "--endpoint-url", stack.aws_endpoint, "calls", *args)


def test_set_get_list_and_rm_round_trip(stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a key and a call
    key, sid = f"identity:{new_id()}", new_call_sid()

    # When an operator registers it
    code, out = cli(stack, capsys, "set", key, sid, "--ttl", "600")
    assert code == 0
    assert json.loads(out)["call_sid"] == sid

    # Then get and list show it
    code, out = cli(stack, capsys, "get", key)
    assert code == 0
    assert json.loads(out)["call_sid"] == sid
    code, out = cli(stack, capsys, "list")
    assert {"key": key, "call_sid": sid, "calls": 1} in json.loads(out)

    # And rm ends it
    assert cli(stack, capsys, "rm", key)[0] == 0
    assert cli(stack, capsys, "get", key)[0] == 1


def test_rm_of_one_call_keeps_the_other(stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    key, first, second = f"identity:{new_id()}", new_call_sid(), new_call_sid()
    cli(stack, capsys, "set", key, first)
    cli(stack, capsys, "set", key, second)
    assert cli(stack, capsys, "rm", key, "--call-sid", second)[0] == 0
    assert json.loads(cli(stack, capsys, "get", key)[1])["call_sid"] == first


def test_rm_naming_a_call_that_is_not_registered_fails_and_changes_nothing(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    key, sid = f"identity:{new_id()}", new_call_sid()
    cli(stack, capsys, "set", key, sid)
    assert cli(stack, capsys, "rm", key, "--call-sid", new_call_sid())[0] == 1
    assert json.loads(cli(stack, capsys, "get", key)[1])["call_sid"] == sid


def test_set_refuses_a_malformed_call_sid(stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli(stack, capsys, "set", "identity:x", "CA123")


def events_cli(stack: LocalStack, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any]:
    # The CLI's own output only: stream handlers log to stdout in the background meanwhile.
    code, out = run_cli(
        "--local",
        "--endpoint-url",
        stack.aws_endpoint,
        "--twilio-api-base-url",
        stack.emulator.base_url,
        "events",
        *args,
    )
    return code, [json.loads(chunk) for chunk in _json_chunks(out)]


def listed(results: list[Any]) -> dict[str, Any]:
    """The ledger entries `events failed` printed, by event key."""
    return {entry["event_key"]: entry for listing in results if isinstance(listing, list) for entry in listing}


def _json_chunks(text: str) -> list[str]:
    decoder, chunks, index = json.JSONDecoder(), [], 0
    while index < len(text):
        if text[index].isspace():
            index += 1
            continue
        value, end = decoder.raw_decode(text, index)
        chunks.append(json.dumps(value))
        index = end
    return chunks


def expired_event(bridge: Bridge) -> str:
    """An event parked for a recipient whose call never came: the ledger records it as expired."""
    event_id = new_id()
    assert bridge.post_event(new_event_body(f"identity:{new_id()}", hold_seconds=1), event_id=event_id).status == 202
    assert wait_for(lambda: ledger_entry(bridge.stack, event_id), timeout=15)
    return event_id


def test_events_failed_lists_the_ledger(bridge: Bridge, capsys: pytest.CaptureFixture[str]) -> None:
    event_id = expired_event(bridge)
    code, results = events_cli(bridge.stack, capsys, "failed", "--since", "10m")
    assert code == 0
    entry = listed(results)[event_id]
    assert entry["reason"] == "expired"
    assert json.loads(entry["content"])["id"] == event_id


def test_replay_delivers_with_the_original_key_and_marks_the_entry(
    bridge: Bridge, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an expired event and a live call for another key
    event_id = expired_event(bridge)
    key, call_sid = bridge.live_call()

    # When the operator replays it to that key
    code, [result] = events_cli(bridge.stack, capsys, "replay", event_id, "--to", key)

    # Then it reaches that call with the original event ID as IdempotencyKey, once
    assert code == 0
    assert result["status"] == "delivered"
    [message] = bridge.messages_for(event_id)
    assert message["call_sid"] == call_sid
    _, results = events_cli(bridge.stack, capsys, "failed", "--since", "10m")
    assert event_id not in listed(results)

    # And replaying again doesn't double it
    events_cli(bridge.stack, capsys, "replay", event_id, "--to", key)
    assert len(bridge.messages_for(event_id)) == 1


def test_replay_all_failed_to_a_recipient_without_a_call_reports_it(
    bridge: Bridge, capsys: pytest.CaptureFixture[str]
) -> None:
    expired_event(bridge)
    code, results = events_cli(
        bridge.stack, capsys, "replay", "--all-failed", "--since", "10m", "--to", "identity:nobody"
    )
    assert code == 1
    assert results
    assert {result["status"] for result in results} == {"no_active_call"}


# -- stale events and malformed items (issue 19) -----------------------------------------------------


def stale_event(bridge: Bridge) -> tuple[str, str, str]:
    """An hour-old event to a key whose call started now: the ledger records it as stale."""
    key, call_sid = bridge.live_call()
    event_id = new_id()
    reply = bridge.post_event(new_event_body(key, timestamp=rfc3339(time.time() - 3600)), event_id=event_id)
    assert reply.json()["status"] == "stale", reply.body
    assert ledger_entry(bridge.stack, event_id)["reason"] == "stale"  # type: ignore[index]
    return event_id, key, call_sid


def test_replay_refuses_a_stale_event_and_says_why(bridge: Bridge, capsys: pytest.CaptureFixture[str]) -> None:
    # Given an event that was too old for its recipient's call
    event_id, _, _ = stale_event(bridge)

    # When the operator replays it without saying where
    code, [result] = events_cli(bridge.stack, capsys, "replay", event_id)

    # Then it is refused, with the reason and the way out, and the call never sees it
    assert code == 1
    assert (result["status"], result["reason"]) == ("refused", "stale")
    assert "--to" in result["detail"]
    assert "--force" in result["detail"]
    assert bridge.messages_for(event_id) == []
    assert "replayed_at" not in ledger_entry(bridge.stack, event_id)  # type: ignore[operator]


def test_replay_all_failed_refuses_stale_events_and_replays_the_rest(
    bridge: Bridge, capsys: pytest.CaptureFixture[str]
) -> None:
    stale_id, _, _ = stale_event(bridge)
    expired_id = expired_event(bridge)
    code, results = events_cli(bridge.stack, capsys, "replay", "--all-failed", "--since", "10m")
    by_key = {result["event_key"]: result for result in results}
    assert code == 1
    assert by_key[stale_id]["status"] == "refused"
    assert by_key[expired_id]["status"] == "no_active_call"  # tried: its recipient never had a call
    assert bridge.messages_for(stale_id) == []


@pytest.mark.parametrize("how", ["--force", "--to"])
def test_replay_delivers_a_stale_event_when_told_to(
    bridge: Bridge, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    # Given a stale event, and its recipient's call (or another key's, named with --to)
    event_id, key, call_sid = stale_event(bridge)
    args = ["--force"]
    if how == "--to":
        key, call_sid = bridge.live_call()
        args = ["--to", key]

    # When the operator replays it so
    code, [result] = events_cli(bridge.stack, capsys, "replay", event_id, *args)

    # Then it reaches that call
    assert code == 0
    assert result["status"] == "delivered"
    [message] = bridge.messages_for(event_id)
    assert message["call_sid"] == call_sid


@pytest.fixture
def malformed_item(stack: LocalStack) -> Iterator[str]:
    """A ledger item with the listing's keys but no entry's fields: another version's, or a hand edit's."""
    event_key = f"malformed-{new_id()}"
    item = {"event_key": {"S": event_key}, "kind": {"S": "failed"}, "failed_at": {"N": str(time.time())}}
    table = stack.client("dynamodb")
    table.put_item(TableName="LedgerTable", Item=item)
    yield event_key
    table.delete_item(TableName="LedgerTable", Key={"event_key": {"S": event_key}})


def test_one_malformed_ledger_item_is_reported_and_the_rest_are_listed_and_replayed(
    bridge: Bridge, capsys: pytest.CaptureFixture[str], malformed_item: str
) -> None:
    # Given a malformed item among the failures
    event_id = expired_event(bridge)
    capsys.readouterr()

    # When the operator lists them
    code, results = events_cli(bridge.stack, capsys, "failed", "--since", "10m")

    # Then the others are listed, and the malformed one is skipped and named on stderr
    assert code == 1
    assert event_id in listed(results)
    assert malformed_item not in listed(results)
    assert f"skipped malformed ledger item {malformed_item}" in capsys.readouterr().err

    # And replaying every failure goes past it too
    code, results = events_cli(bridge.stack, capsys, "replay", "--all-failed", "--since", "10m")
    assert event_id in {result["event_key"] for result in results}
    assert malformed_item in capsys.readouterr().err

    # And replaying it by its key says what is wrong with it
    code, _ = events_cli(bridge.stack, capsys, "replay", malformed_item)
    assert code == 1
    assert f"{malformed_item} is malformed" in capsys.readouterr().err
