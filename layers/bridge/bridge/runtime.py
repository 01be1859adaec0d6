"""Composition root: builds each function's service once per container, on first use.

Tests and the local stack get fresh services by calling `reset()`; nothing patches module globals.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

from bridge.config import ParkingSettings, TwilioSettings
from bridge.registry import DynamoCallRegistry
from bridge.secrets import SecretStore

# Each function imports only what its own service needs, inside its factory: the calls
# function never pays for twilio, jsonschema's formats or Powertools Idempotency at cold start.
if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

    from bridge.call_status import CallStatusService
    from bridge.calls import CallsService
    from bridge.dispatch import Dispatcher
    from bridge.ingest import IngestService
    from bridge.ledger import Ledger
    from bridge.parking import Flusher
    from bridge.streams import StreamService


class _Once[T]:
    """Builds a value on first use, once per container. Building holds the lock, so a `reset()`
    (tests, the local stack) can never be overtaken by a build that read the old environment."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._value: T | None = None
        self._lock = threading.RLock()

    def __call__(self) -> T:
        value = self._value
        if value is not None:
            return value
        with self._lock:
            if self._value is None:
                self._value = self._build()
            return self._value

    def cache_clear(self) -> None:
        with self._lock:
            self._value = None


def cache[T](build: Callable[[], T]) -> _Once[T]:
    return _Once(build)


# Short timeouts and few retries: a sender is waiting, and the retry budget lives in the use case.
AWS_CONFIG = Config(
    connect_timeout=1,
    read_timeout=2,
    retries={"mode": "standard", "max_attempts": 3},
    tcp_keepalive=True,
)


@cache
def dynamodb() -> DynamoDBClient:
    return boto3.client("dynamodb", config=AWS_CONFIG)


def _delivery(twilio: TwilioSettings) -> tuple[SecretStore, Dispatcher]:
    """The secret store and the Twilio delivery chain, as ingest and the flusher both use them."""
    from bridge.delivery import AttemptHttpClient, TwilioMessageSender
    from bridge.dispatch import Dispatcher
    from bridge.retry import RetryPolicy

    secrets = SecretStore(twilio.secrets_max_age_seconds, boto_config=AWS_CONFIG)
    delivery = twilio.delivery
    sender = TwilioMessageSender(
        credentials=lambda: secrets.twilio_credentials(twilio.secret_id),
        http_client=AttemptHttpClient(timeout=delivery.timeout_seconds),
        base_url=twilio.api_base_url,
    )
    policy = RetryPolicy(
        max_attempts=delivery.max_attempts,
        attempt_timeout=delivery.timeout_seconds,
        base_delay=delivery.backoff_base_seconds,
        max_delay=delivery.backoff_cap_seconds,
    )
    return secrets, Dispatcher(sender, policy)


def _flusher(parking: ParkingSettings, registry: DynamoCallRegistry, dispatcher: Dispatcher) -> Flusher:
    from bridge.parking import Flusher, ParkedStore

    return Flusher(ParkedStore(parking.parked_table, dynamodb()), registry, dispatcher, _ledger(parking))


def _ledger(parking: ParkingSettings) -> Ledger:
    from bridge.ledger import Ledger

    return Ledger(parking.ledger_table, dynamodb(), parking.ledger_retention_seconds)


def _registry(calls_table: str, max_call_seconds: int) -> DynamoCallRegistry:
    return DynamoCallRegistry(calls_table, dynamodb(), tombstone_seconds=max_call_seconds)


@cache
def ingest_service() -> IngestService:
    from bridge.config import IngestSettings
    from bridge.idempotency import IdempotencyGate
    from bridge.ingest import IngestService, Parking
    from bridge.parking import ParkedStore
    from bridge.sources import load_profiles

    settings = IngestSettings.from_env()
    secrets, dispatcher = _delivery(settings.twilio)
    registry = _registry(settings.calls_table, settings.max_call_seconds)
    parking = settings.parking
    return IngestService(
        webhook_secrets=lambda: secrets.webhook_secrets(settings.webhook_secret_id),
        profiles=load_profiles(),
        registry=registry,
        dispatcher=dispatcher,
        idempotency=IdempotencyGate(settings.idempotency_table, dynamodb(), settings.idempotency_ttl_seconds),
        max_content_bytes=settings.max_content_bytes,
        parking=Parking(
            store=ParkedStore(parking.parked_table, dynamodb()),
            flusher=_flusher(parking, registry, dispatcher),
            max_hold_seconds=parking.max_hold_seconds,
            default_hold_seconds=parking.default_hold_seconds,
        ),
        reserve_seconds=settings.twilio.delivery.reserve_seconds,
    )


@cache
def flush_service() -> StreamService:
    from bridge.config import FlushSettings
    from bridge.streams import StreamService

    settings = FlushSettings.from_env()
    _, dispatcher = _delivery(settings.twilio)
    parking = settings.parking
    return StreamService(
        calls_table=settings.calls_table,
        parked_table=parking.parked_table,
        flusher=_flusher(parking, _registry(settings.calls_table, settings.max_call_seconds), dispatcher),
        ledger=_ledger(parking),
        reserve_seconds=settings.twilio.delivery.reserve_seconds,
    )


@cache
def calls_service() -> CallsService:
    from bridge.calls import CallsService
    from bridge.config import CallsSettings

    settings = CallsSettings.from_env()
    return CallsService(_registry(settings.calls_table, settings.max_call_seconds), settings.max_call_seconds)


@cache
def call_status_service() -> CallStatusService:
    from bridge.call_status import CallStatusService
    from bridge.config import CallStatusSettings

    settings = CallStatusSettings.from_env()
    secrets = SecretStore(settings.secrets_max_age_seconds, boto_config=AWS_CONFIG)
    return CallStatusService(
        auth_token=lambda: secrets.twilio_credentials(settings.twilio_secret_id).auth_token,
        registry=_registry(settings.calls_table, settings.max_call_seconds),
        public_base_url=settings.public_base_url,
        max_call_seconds=settings.max_call_seconds,
    )


def reset() -> None:
    """Forget every built service and client, as a new container would."""
    for factory in (dynamodb, ingest_service, calls_service, call_status_service, flush_service):
        factory.cache_clear()
