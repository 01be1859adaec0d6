"""The udm-bridge operations CLI against the local stack's DynamoDB (moto's server)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from helpers import Bridge, ledger_entry, new_call_sid, new_event_body, new_id, wait_for

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
