"""The local stack runs every function in one process, yet each logs (and counts) under its own
POWERTOOLS_SERVICE_NAME from template.yaml, also when the front serves them at the same time."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from local.front import HttpFront
from local.lambda_runtime import service_name
from local.stack import LocalStack

pytestmark = pytest.mark.integration

FUNCTIONS = ("CallsFunction", "IngestFunction", "CallStatusFunction")


@pytest.fixture(scope="module")
def front(stack: LocalStack) -> Iterator[str]:
    server = HttpFront(stack.functions, port=0).start()
    yield server.base_url
    server.stop()


@pytest.fixture(scope="module")
def key(stack: LocalStack, front: str) -> str:
    """A registered call, so GET /calls/{key} has something to find."""
    call = stack.emulator.create_call(stack.credentials.account.account_sid)
    key = "identity:service-" + call["sid"][-8:]
    assert requests.put(f"{front}/calls/{key}", json={"call_sid": call["sid"]}, timeout=10).status_code == 200
    stack.settle()
    return key


@pytest.fixture
def logged(key: str) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The bridge Logger's JSON lines, as its own handler formats them, from now on."""
    from bridge.observability import logger  # imported by the handlers already: the fixture `key` ran them

    stream = io.StringIO()
    capture = logging.StreamHandler(stream)
    capture.setFormatter(logger.registered_formatter)
    logger.addHandler(capture)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    finally:
        logger.removeHandler(capture)


@pytest.fixture
def quiet_streams(stack: LocalStack) -> Iterator[None]:
    """No stream invocation (the flush function) runs meanwhile: metrics are one buffer per process."""
    for poller in stack.pollers:
        poller.pause()
    for poller in stack.pollers:
        poller.wait_idle()
    try:
        yield
    finally:
        for poller in stack.pollers:
            poller.resume()


def send(front: str, key: str, function: str) -> int:
    """One request per function; unsigned ones are turned away, which is logged too."""
    if function == "CallsFunction":
        reply = requests.get(f"{front}/calls/{key}", timeout=10)
    elif function == "IngestFunction":
        reply = requests.post(f"{front}/events", data=b"{}", headers={"content-type": "application/json"}, timeout=10)
    else:
        form = {"content-type": "application/x-www-form-urlencoded"}
        reply = requests.post(f"{front}/twilio/call-status", data="CallSid=CA1", headers=form, timeout=10)
    return reply.status_code


def outcome_of(line: dict[str, Any]) -> tuple[str, str]:
    return str(line.get("outcome")), str(line.get("reason"))


def test_the_template_names_a_service_per_function(stack: LocalStack) -> None:
    names = [service_name(stack.functions[function]) for function in FUNCTIONS]
    assert all(names), names
    assert len(set(names)) == len(names), names


def test_each_function_logs_and_counts_under_its_own_service(
    stack: LocalStack,
    front: str,
    key: str,
    logged: Callable[[], list[dict[str, Any]]],
    quiet_streams: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for function in FUNCTIONS:
        expected = service_name(stack.functions[function])
        capsys.readouterr()
        before = len(logged())

        send(front, key, function)

        lines = logged()[before:]
        assert lines, f"{function} logged nothing"
        assert {line["service"] for line in lines} == {expected}, lines
        # Powertools prints the metrics (EMF) on stdout when the invocation ends.
        blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
        assert blobs, f"{function} published no metrics"
        assert {blob["service"] for blob in blobs} == {expected}, blobs


def test_concurrent_invocations_keep_their_own_service(
    stack: LocalStack, front: str, key: str, logged: Callable[[], list[dict[str, Any]]]
) -> None:
    # Each function's outcome, learnt one at a time
    signature = {}
    for function in FUNCTIONS:
        before = len(logged())
        send(front, key, function)
        [line] = [line for line in logged()[before:] if "outcome" in line]
        signature[outcome_of(line)] = service_name(stack.functions[function])
    assert len(signature) == len(FUNCTIONS), signature

    # When the front serves all three at once, on its own threads
    before = len(logged())
    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(lambda function: send(front, key, function), FUNCTIONS * 20))
    assert len(statuses) == 60

    # Then every outcome line carries the service of the function that logged it
    lines = [line for line in logged()[before:] if outcome_of(line) in signature]
    assert len(lines) == 60
    assert all(line["service"] == signature[outcome_of(line)] for line in lines), [
        (outcome_of(line), line["service"]) for line in lines if line["service"] != signature[outcome_of(line)]
    ]
