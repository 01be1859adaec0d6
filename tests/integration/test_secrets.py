"""The SecretStore against moto's server with the real boto3 client: every secret a store reads comes
in one round of requests, values are kept for their max age, and a secret that can't be read fails
closed without costing the others."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from bridge.adapters.secrets import SecretStore
from bridge.domain.errors import ConfigurationError, StoreUnavailable
from local.dynamo_faults import DynamoFaultProxy
from local.stack import REGION, LocalStack

pytestmark = pytest.mark.integration


def _client(endpoint: str, **config: Any) -> Any:
    return boto3.client(  # type: ignore[call-overload]
        "secretsmanager",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(**config),
    )


class Requests:
    """GetSecretValue calls a client made: which secret, when sent and when answered."""

    def __init__(self, client: Any) -> None:
        self.secret_ids: list[str] = []
        self.sent: list[float] = []
        self.answered: list[float] = []
        self._lock = threading.Lock()
        events = client.meta.events
        events.register("before-parameter-build.secrets-manager.GetSecretValue", self._asked)
        events.register("before-send.secrets-manager.GetSecretValue", self._sent)
        events.register("after-call.secrets-manager.GetSecretValue", self._answered)

    def _asked(self, params: dict[str, Any], **_: Any) -> None:
        with self._lock:
            self.secret_ids.append(params["SecretId"])

    def _sent(self, **_: Any) -> None:
        with self._lock:
            self.sent.append(time.perf_counter())

    def _answered(self, **_: Any) -> None:
        with self._lock:
            self.answered.append(time.perf_counter())


@pytest.fixture
def two_secrets(stack: LocalStack) -> Iterator[tuple[str, str]]:
    manager = stack.client("secretsmanager")
    names = (f"udm-bridge/test-{uuid.uuid4().hex[:8]}-a", f"udm-bridge/test-{uuid.uuid4().hex[:8]}-b")
    for name in names:
        manager.create_secret(Name=name, SecretString=f"value of {name}")
    yield names
    for name in names:
        manager.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)


def test_the_first_read_fetches_every_secret_the_store_reads(stack: LocalStack, two_secrets: tuple[str, str]) -> None:
    # Given a store with a reader for each of two secrets (as ingest has: webhook and Twilio)
    client = _client(stack.aws_endpoint)
    requests = Requests(client)
    store = SecretStore(max_age_seconds=300, client=client)
    first, second = (store.reader(name, str.upper) for name in two_secrets)

    # When the first is read
    assert first() == f"value of {two_secrets[0]}".upper()

    # Then both were fetched, and reading the second costs no request
    assert sorted(requests.secret_ids) == sorted(two_secrets)
    assert second() == f"value of {two_secrets[1]}".upper()
    assert len(requests.secret_ids) == 2


def test_the_requests_are_in_flight_together(stack: LocalStack, two_secrets: tuple[str, str]) -> None:
    # Given Secrets Manager 300 ms away, and a store with two readers
    proxy = DynamoFaultProxy(stack.aws_endpoint, latency_ms=300).start()
    try:
        client = _client(proxy.url)
        requests = Requests(client)
        store = SecretStore(max_age_seconds=300, client=client)
        first, _ = (store.reader(name, str) for name in two_secrets)

        # When one is read
        first()
    finally:
        proxy.stop()

    # Then the second request went out before the first answer came back: one wait, not two
    assert len(requests.sent) == len(requests.answered) == 2
    assert max(requests.sent) < min(requests.answered)


def test_values_are_kept_for_their_max_age_and_read_again_after(
    stack: LocalStack, two_secrets: tuple[str, str]
) -> None:
    # Given a store that keeps values for five minutes and one that keeps them for no time
    name = two_secrets[0]
    kept = SecretStore(max_age_seconds=300, client=_client(stack.aws_endpoint)).reader(name, str)
    fresh = SecretStore(max_age_seconds=0, client=_client(stack.aws_endpoint)).reader(name, str)
    assert kept() == fresh() == f"value of {name}"

    # When the secret is rotated
    stack.put_secret(name, "rotated")

    # Then the first still answers what it read, and the second reads the new value
    assert kept() == f"value of {name}"
    assert fresh() == "rotated"


def test_a_missing_secret_fails_closed_and_the_others_still_read(
    stack: LocalStack, two_secrets: tuple[str, str]
) -> None:
    # Given a store whose readers name a secret that exists and one that does not
    client = _client(stack.aws_endpoint)
    requests = Requests(client)
    store = SecretStore(max_age_seconds=300, client=client)
    missing_id = f"udm-bridge/missing-{uuid.uuid4().hex[:8]}"
    present = store.reader(two_secrets[0], str)
    missing = store.reader(missing_id, str)

    # When the missing one is read, it is the deployment's fault, named
    with pytest.raises(ConfigurationError, match=f"{missing_id} cannot be read \\(ResourceNotFoundException\\)"):
        missing()

    # Then the one that exists came in the same round and reads without a request
    assert present() == f"value of {two_secrets[0]}"
    assert sorted(requests.secret_ids) == sorted([two_secrets[0], missing_id])

    # And the failure was not kept: the next read asks again, and fails again
    with pytest.raises(ConfigurationError):
        missing()
    assert requests.secret_ids.count(missing_id) == 2


def test_an_unreachable_secrets_manager_is_a_passing_failure() -> None:
    # Given a client of an endpoint nobody listens on
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    client = _client(closed, connect_timeout=0.5, retries={"max_attempts": 1})
    read = SecretStore(max_age_seconds=300, client=client).reader("udm-bridge/any", str)

    # When a secret is read, the sender is told to retry, not that the bridge is misconfigured
    with pytest.raises(StoreUnavailable) as raised:
        read()
    assert raised.value.status == 503


def test_a_prefetch_fetches_in_the_background_and_the_reads_cost_nothing_more(
    stack: LocalStack, two_secrets: tuple[str, str]
) -> None:
    # Given Secrets Manager 300 ms away, and a store asked to prefetch both secrets
    proxy = DynamoFaultProxy(stack.aws_endpoint, latency_ms=300).start()
    try:
        client = _client(proxy.url)
        requests = Requests(client)
        store = SecretStore(max_age_seconds=300, client=client)
        store.prefetch(*two_secrets)
        returned = time.perf_counter()
        first, second = (store.reader(name, str) for name in two_secrets)

        # When both are read right away
        values = first(), second()
    finally:
        proxy.stop()

    # Then the prefetch returned before any answer, the reads waited for it, and each secret was asked once
    assert returned < min(requests.answered)
    assert values == tuple(f"value of {name}" for name in two_secrets)
    assert sorted(requests.secret_ids) == sorted(two_secrets)


def test_a_failed_prefetch_is_fetched_again_and_raised_by_the_read(stack: LocalStack) -> None:
    # Given a prefetch of a secret that does not exist
    client = _client(stack.aws_endpoint)
    requests = Requests(client)
    store = SecretStore(max_age_seconds=300, client=client)
    missing_id = f"udm-bridge/missing-{uuid.uuid4().hex[:8]}"
    store.prefetch(missing_id)
    missing = store.reader(missing_id, str)
    deadline = time.monotonic() + 10
    while not requests.answered and time.monotonic() < deadline:
        time.sleep(0.01)
    assert requests.secret_ids == [missing_id]

    # When it is read, the read fails closed, naming it
    with pytest.raises(ConfigurationError, match=f"{missing_id} cannot be read"):
        missing()

    # Then the prefetch's failure was not kept: the read asked again
    assert requests.secret_ids.count(missing_id) == 2
