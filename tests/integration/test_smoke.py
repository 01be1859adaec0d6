"""`udm-bridge --local smoke` against the local stack, found the way the documented commands find it:
through the state file `make run` writes."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from local import state
from local.front import HttpFront
from local.stack import LocalStack
from ops.cli import main
from ops.smoke import SMOKE_KEY

pytestmark = pytest.mark.integration


@pytest.fixture
def running(stack: LocalStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HttpFront]:
    """The session stack with a front, announced in a state file as `make run` announces it."""
    front = HttpFront(stack.functions, port=0).start()
    monkeypatch.setattr(state, "STATE_FILE", tmp_path / "stack.json")
    state.write(
        state.Endpoints(front=front.base_url, aws=stack.aws_endpoint, twilio=stack.emulator.base_url, pid=os.getpid())
    )
    yield front
    front.stop()


def smoke() -> tuple[int, list[dict[str, object]]]:
    out = io.StringIO()
    code = main(["--local", "smoke"], out=out)
    return code, json.loads(out.getvalue())


def test_smoke_passes_against_the_local_stack(running: HttpFront, stack: LocalStack) -> None:
    # When the smoke test runs with --local and nothing else
    code, checks = smoke()

    # Then each check passed: the signed event met no call, the unsigned ones were refused
    assert code == 0, checks
    by_name = {str(check["check"]): check for check in checks}
    assert by_name["signed event for a reserved identity: 404 no_active_call"]["ok"] is True
    assert by_name["unsigned POST /events: 401 invalid_signature"]["ok"] is True
    assert by_name["unsigned GET /calls/{key}: refused by IAM"]["skipped"] is True
    # And the reserved identity never got a call or a message
    assert not [m for m in stack.emulator.messages() if m["idempotency_key"].startswith("smoke_")]
    assert (
        stack.client("dynamodb").get_item(TableName="CallsTable", Key={"recipient": {"S": SMOKE_KEY}}).get("Item")
        is None
    )


def test_smoke_fails_when_it_signs_with_another_secret(running: HttpFront, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the smoke test signs with one secret while the bridge verifies with another
    from ops import cli

    monkeypatch.setattr(cli.Target, "webhook_secret", lambda self: "whsec_" + "A" * 32)

    # When it runs
    code, checks = smoke()

    # Then the signed check fails (401), and so does the whole run
    assert code == 1
    assert checks[0]["ok"] is False
    assert str(checks[0]["answer"]).startswith("401")
