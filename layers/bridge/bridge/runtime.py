"""Composition root: builds each function's service once per container, on first use.

Tests and the local stack get fresh services by calling `reset()`; nothing patches module globals.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

from bridge.call_status import CallStatusService
from bridge.calls import CallsService
from bridge.config import CallsSettings, CallStatusSettings, IngestSettings
from bridge.delivery import AttemptHttpClient, TwilioMessageSender
from bridge.idempotency import IdempotencyGate
from bridge.ingest import IngestService
from bridge.registry import DynamoCallRegistry
from bridge.retry import RetryPolicy
from bridge.secrets import SecretStore
from bridge.sources import load_profiles

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

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


@cache
def ingest_service() -> IngestService:
    settings = IngestSettings.from_env()
    secrets = SecretStore(settings.secrets_max_age_seconds, boto_config=AWS_CONFIG)
    delivery = settings.delivery
    sender = TwilioMessageSender(
        credentials=lambda: secrets.twilio_credentials(settings.twilio_secret_id),
        http_client=AttemptHttpClient(timeout=delivery.timeout_seconds),
        base_url=settings.twilio_api_base_url,
    )
    return IngestService(
        webhook_secrets=lambda: secrets.webhook_secrets(settings.webhook_secret_id),
        profiles=load_profiles(),
        registry=DynamoCallRegistry(settings.calls_table, dynamodb(), tombstone_seconds=settings.max_call_seconds),
        sender=sender,
        idempotency=IdempotencyGate(settings.idempotency_table, dynamodb(), settings.idempotency_ttl_seconds),
        retry_policy=RetryPolicy(
            max_attempts=delivery.max_attempts,
            attempt_timeout=delivery.timeout_seconds,
            base_delay=delivery.backoff_base_seconds,
            max_delay=delivery.backoff_cap_seconds,
        ),
        max_content_bytes=settings.max_content_bytes,
        reserve_seconds=delivery.reserve_seconds,
    )


@cache
def calls_service() -> CallsService:
    settings = CallsSettings.from_env()
    registry = DynamoCallRegistry(settings.calls_table, dynamodb(), tombstone_seconds=settings.max_call_seconds)
    return CallsService(registry, settings.max_call_seconds)


@cache
def call_status_service() -> CallStatusService:
    settings = CallStatusSettings.from_env()
    secrets = SecretStore(settings.secrets_max_age_seconds, boto_config=AWS_CONFIG)
    return CallStatusService(
        auth_token=lambda: secrets.twilio_credentials(settings.twilio_secret_id).auth_token,
        registry=DynamoCallRegistry(settings.calls_table, dynamodb(), tombstone_seconds=settings.max_call_seconds),
        public_base_url=settings.public_base_url,
        max_call_seconds=settings.max_call_seconds,
    )


def reset() -> None:
    """Forget every built service and client, as a new container would."""
    for factory in (dynamodb, ingest_service, calls_service, call_status_service):
        factory.cache_clear()
