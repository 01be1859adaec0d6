"""The udm-bridge operations CLI against the local stack's DynamoDB (moto's server)."""

from __future__ import annotations

import json

import pytest
from helpers import new_call_sid, new_id

from local.stack import LocalStack
from ops.cli import main

pytestmark = pytest.mark.integration


def cli(stack: LocalStack, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["--local", "--endpoint-url", stack.aws_endpoint, "calls", *args])
    return code, capsys.readouterr().out


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
