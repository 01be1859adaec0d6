"""Shared fixtures: the local stack once per test session, a clean emulator per test.

The stack (moto's server, the Twilio emulator) is imported inside its fixture, so unit tests,
which never ask for it, load no moto.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from bridge import bootstrap

if TYPE_CHECKING:
    from helpers import Bridge

    from local.stack import LocalStack


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalStack]:
    from local.stack import LocalStack

    with pytest.MonkeyPatch.context() as env, LocalStack() as local:
        for name, value in local.environment().items():
            env.setenv(name, value)
        bootstrap.reset()
        yield local
        bootstrap.reset()


@pytest.fixture
def bridge(stack: LocalStack) -> Iterator[Bridge]:
    from content_contract import content_errors
    from helpers import Bridge

    stack.emulator.reset()
    yield Bridge(stack)
    stack.emulator.clear_faults()
    # Every Content the test made the bridge post keeps the contract the agent's app is written to.
    broken = [(m["content"], errors) for m in stack.emulator.messages() if (errors := content_errors(m["content"]))]
    assert not broken, f"{len(broken)} UDM Content(s) break content.schema.json: {broken[0]}"


@pytest.fixture
def fresh_runtime(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """For tests that change configuration or secrets: a new container before and after."""
    from local.stack import TWILIO_SECRET_NAME, WEBHOOK_SECRET_NAME

    bootstrap.reset()
    original_twilio = stack.client("secretsmanager").get_secret_value(SecretId=TWILIO_SECRET_NAME)["SecretString"]
    original_webhook = stack.client("secretsmanager").get_secret_value(SecretId=WEBHOOK_SECRET_NAME)["SecretString"]
    yield monkeypatch
    monkeypatch.undo()
    stack.put_secret(TWILIO_SECRET_NAME, original_twilio)
    stack.put_secret(WEBHOOK_SECRET_NAME, original_webhook)
    bootstrap.reset()
