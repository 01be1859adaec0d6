"""The latency model `make bench` puts on loopback: the DynamoDB proxy's `latency_ms` and the Twilio
emulator's standing UDM latency, over real HTTP. Elapsed times are only ever checked from below (a
delay applied cannot take less than the delay); nothing here bounds a duration from above."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
from emulator_client import ControlClient

from local.dynamo_faults import DynamoFaultProxy
from local.stack import REGION, TWILIO_SECRET_NAME, LocalStack
from local.twilio_emulator import Account, TwilioEmulator

pytestmark = pytest.mark.integration

ACCOUNT_SID = "AC" + "d" * 32
AUTH_TOKEN = "bench-latency-auth-token"


def _client(service: str, endpoint: str) -> Any:
    return boto3.client(  # type: ignore[call-overload]
        service, endpoint_url=endpoint, region_name=REGION, aws_access_key_id="local", aws_secret_access_key="local"
    )


@pytest.fixture
def slow_proxy(stack: LocalStack) -> Iterator[DynamoFaultProxy]:
    proxy = DynamoFaultProxy(stack.aws_endpoint, latency_ms=150).start()
    yield proxy
    proxy.stop()


def test_proxy_latency_delays_every_dynamodb_and_secrets_manager_request(
    stack: LocalStack, slow_proxy: DynamoFaultProxy
) -> None:
    # Given clients of both services behind a proxy that waits 150 ms per request
    dynamodb = _client("dynamodb", slow_proxy.url)
    secrets = _client("secretsmanager", slow_proxy.url)

    # When each makes a call
    started = time.perf_counter()
    dynamodb.get_item(TableName=stack.table_name("CallsTable"), Key={"recipient": {"S": "identity:nobody"}})
    dynamodb_s = time.perf_counter() - started
    started = time.perf_counter()
    secret = secrets.get_secret_value(SecretId=TWILIO_SECRET_NAME)
    secrets_s = time.perf_counter() - started

    # Then both were forwarded to moto, and each waited at least the latency
    assert "SecretString" in secret
    assert slow_proxy.stats["delayed"] == slow_proxy.stats["requests"] == 2
    assert dynamodb_s >= 0.150
    assert secrets_s >= 0.150


def test_proxy_keeps_its_clients_connections_alive(stack: LocalStack) -> None:
    # Given a proxy without latency and one client
    proxy = DynamoFaultProxy(stack.aws_endpoint).start()
    try:
        dynamodb = _client("dynamodb", proxy.url)

        # When the client makes five calls in a row
        for _ in range(5):
            dynamodb.describe_table(TableName=stack.table_name("IdempotencyTable"))

        # Then they all came over one kept-alive connection (as AWS keeps them), even though moto's
        # server closes its own after every answer
        assert proxy.stats["requests"] == 5
        assert proxy.stats["delayed"] == 0
        assert proxy.stats["client_connections"] == 1
        assert proxy.stats["upstream_connections"] >= 1
    finally:
        proxy.stop()


def test_proxy_waits_for_overlapping_requests_side_by_side(stack: LocalStack) -> None:
    # Given a proxy that holds every request for a whole second
    proxy = DynamoFaultProxy(stack.aws_endpoint, latency_ms=1000).start()
    try:
        dynamodb = _client("dynamodb", proxy.url)
        table = stack.table_name("CallsTable")
        gate = threading.Barrier(2)

        def read() -> None:
            gate.wait(timeout=30)
            dynamodb.get_item(TableName=table, Key={"recipient": {"S": "identity:nobody"}})

        # When two threads of one client call at the same moment, as the bridge overlaps its reads
        threads = [threading.Thread(target=read) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

        # Then both were inside the proxy at once: it did not make one wait for the other
        assert proxy.stats["requests"] == 2
        assert proxy.stats["peak_in_flight"] == 2
    finally:
        proxy.stop()


def test_proxy_rejects_a_negative_latency(stack: LocalStack) -> None:
    proxy = DynamoFaultProxy(stack.aws_endpoint)
    with pytest.raises(ValueError, match="latency_ms"):
        proxy.set_latency(-1)
    proxy.stop()


# -- the emulator's standing UDM latency ------------------------------------------------------------


@pytest.fixture(scope="module")
def emulator() -> Iterator[TwilioEmulator]:
    emu = TwilioEmulator([Account(ACCOUNT_SID, AUTH_TOKEN)]).start()
    yield emu
    emu.stop()


def _post_udm(emulator: TwilioEmulator, call_sid: str) -> requests.Response:
    url = f"{emulator.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{call_sid}/UserDefinedMessages.json"
    return requests.post(url, data={"Content": "{}"}, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=30)


def test_standing_latency_delays_every_udm_answer_until_reset(emulator: TwilioEmulator) -> None:
    # Given a standing latency of 200 ms set over the control API
    emulator.reset()
    control = ControlClient(emulator.base_url)
    assert control.call("POST", "/latency", {"udm_ms": 200})[0] == 204
    assert control.get("/latency") == {"udm_ms": 200}
    call = emulator.create_call(ACCOUNT_SID)

    # When three UDMs are posted (not a queued fault: it does not run out)
    elapsed = []
    for _ in range(3):
        started = time.perf_counter()
        response = _post_udm(emulator, str(call["sid"]))
        elapsed.append(time.perf_counter() - started)
        assert response.status_code == 201

    # Then each answer took at least the latency, and no fault was counted for it
    assert min(elapsed) >= 0.200
    assert emulator.stats()["faults_injected"] == 0

    # And a reset turns it off
    emulator.reset()
    assert emulator.udm_latency() == 0


def test_standing_latency_adds_to_a_faults_own_latency(emulator: TwilioEmulator) -> None:
    # Given a standing 100 ms and one queued fault of 150 ms
    emulator.reset()
    emulator.set_udm_latency(100)
    emulator.add_fault({"latency_ms": 150})
    call = emulator.create_call(ACCOUNT_SID)

    # When a UDM is posted
    started = time.perf_counter()
    response = _post_udm(emulator, str(call["sid"]))

    # Then it waited for both
    assert response.status_code == 201
    assert time.perf_counter() - started >= 0.250
    emulator.reset()


@pytest.mark.parametrize("body", [{}, {"udm_ms": -5}, {"udm_ms": "fast"}, {"udm_ms": True}])
def test_standing_latency_rejects_what_is_not_a_duration(emulator: TwilioEmulator, body: dict[str, Any]) -> None:
    status, answer = ControlClient(emulator.base_url).call("POST", "/latency", body)
    assert status == 400
    assert "udm_ms" in answer["error"]
    assert emulator.udm_latency() == 0
