"""The composition root: the one module that imports adapters and plugs them into the use cases.

Each function's service is built once per container, on first use. Tests and the local stack get
fresh services by calling `reset()`; nothing patches module globals. The operator's CLI builds
its registry, ledger and dispatcher with the same builders, so both run the same delivery chain.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from bridge.adapters.dynamodb.registry import DynamoCallRegistry
from bridge.adapters.secrets import SecretStore
from bridge.config import DEFAULT_LEDGER_RETENTION_DAYS, DEFAULT_MAX_CALL_SECONDS

# Each function imports only what its own service needs, inside its factory: the calls
# function never pays for twilio, jsonschema's formats or Powertools Idempotency at cold start.
if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_secretsmanager.client import SecretsManagerClient

    from bridge.adapters.dynamodb.ledger import DynamoLedger
    from bridge.adapters.dynamodb.owners import SubscribeRouter
    from bridge.adapters.dynamodb.streams import StreamRouter
    from bridge.adapters.twilio.callbacks import TwilioCallbackSignatures
    from bridge.call_status import CallStatusService
    from bridge.calls import CallsService
    from bridge.config import ParkingSettings, TwilioSettings
    from bridge.dispatch import RetryingDispatcher
    from bridge.flush import Flusher
    from bridge.forward import Forwarder, ForwardService
    from bridge.ingest import IngestService
    from bridge.messages import MessagesService
    from bridge.retry import RetryPolicy


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


@cache
def secretsmanager() -> SecretsManagerClient:
    # From boto3's default session, as dynamodb() is: one botocore loader per container. A session of
    # its own (Powertools' default) reads botocore's data directory and endpoints again on the
    # first event (make bench).
    return boto3.client("secretsmanager", config=AWS_CONFIG)


# -- builders, shared by the functions and the operator's CLI ----------------------------------------


def registry(
    calls_table: str, max_call_seconds: int = DEFAULT_MAX_CALL_SECONDS, client: DynamoDBClient | None = None
) -> DynamoCallRegistry:
    return DynamoCallRegistry(calls_table, client or dynamodb(), tombstone_seconds=max_call_seconds)


def ledger(
    ledger_table: str,
    retention_seconds: int = DEFAULT_LEDGER_RETENTION_DAYS * 86400,
    client: DynamoDBClient | None = None,
) -> DynamoLedger:
    from bridge.adapters.dynamodb.ledger import DynamoLedger

    return DynamoLedger(ledger_table, client or dynamodb(), retention_seconds)


def dispatcher(twilio: TwilioSettings, secrets: SecretStore, calls: DynamoCallRegistry) -> RetryingDispatcher:
    """The Twilio delivery chain: credentials from the secret, the real client, the retry budget."""
    from bridge.adapters.twilio.messages import TwilioMessageSender
    from bridge.dispatch import RetryingDispatcher

    return RetryingDispatcher(_twilio_calls(TwilioMessageSender, twilio, secrets), _retry_policy(twilio), calls)


def _twilio_calls[T](kind: Callable[..., T], twilio: TwilioSettings, secrets: SecretStore) -> T:
    """A Twilio adapter on call resources: credentials from the secret, a per-attempt timeout."""
    from bridge.adapters.twilio.credentials import TwilioCredentials
    from bridge.adapters.twilio.messages import http_client

    return kind(
        credentials=secrets.reader(twilio.secret_id, TwilioCredentials.parse),
        http_client=http_client(timeout=twilio.delivery.timeout_seconds),
        base_url=twilio.api_base_url,
    )


def _retry_policy(twilio: TwilioSettings) -> RetryPolicy:
    from bridge.retry import RetryPolicy

    delivery = twilio.delivery
    return RetryPolicy(
        max_attempts=delivery.max_attempts,
        attempt_timeout=delivery.timeout_seconds,
        base_delay=delivery.backoff_base_seconds,
        max_delay=delivery.backoff_cap_seconds,
    )


def flusher(
    parking: ParkingSettings,
    calls: DynamoCallRegistry,
    dispatch: RetryingDispatcher,
    client: DynamoDBClient | None = None,
) -> Flusher:
    from bridge.adapters.dynamodb.parked import DynamoParkedStore
    from bridge.flush import Flusher

    return Flusher(
        DynamoParkedStore(parking.parked_table, client or dynamodb()),
        calls,
        dispatch,
        ledger(parking.ledger_table, parking.ledger_retention_seconds, client=client),
    )


def _secret_store(max_age_seconds: int) -> SecretStore:
    return SecretStore(max_age_seconds, client=secretsmanager())


# -- one service per function -----------------------------------------------------------------------


@cache
def ingest_service() -> IngestService:
    from bridge.adapters.dynamodb.parked import DynamoParkedStore
    from bridge.adapters.dynamodb.sightings import DynamoSightings
    from bridge.adapters.idempotency import PowertoolsIdempotencyGate
    from bridge.adapters.twilio.webhooks import twilio_verifier
    from bridge.config import IngestSettings
    from bridge.ingest import Freshness, IngestService, Parking
    from bridge.signatures import parse_secrets
    from bridge.sources import load_profiles

    settings = IngestSettings.from_env()
    secrets = _secret_store(settings.twilio.secrets_max_age_seconds)
    calls = registry(settings.calls_table, settings.max_call_seconds)
    dispatch = dispatcher(settings.twilio, secrets, calls)
    parking = settings.parking
    return IngestService(
        secrets=secrets.reader(settings.webhook_secret_id, parse_secrets),
        profiles=load_profiles(),
        registry=calls,
        dispatcher=dispatch,
        idempotency=PowertoolsIdempotencyGate(settings.idempotency_table, dynamodb(), settings.idempotency_ttl_seconds),
        max_content_bytes=settings.max_content_bytes,
        parking=Parking(
            store=DynamoParkedStore(parking.parked_table, dynamodb()),
            flusher=flusher(parking, calls, dispatch),
            max_hold_seconds=parking.max_hold_seconds,
            default_hold_seconds=parking.default_hold_seconds,
        ),
        reserve_seconds=settings.twilio.delivery.reserve_seconds,
        ledger=ledger(parking.ledger_table, parking.ledger_retention_seconds),
        freshness=Freshness(
            # First-seen times live beside the idempotency records, for as long as they do.
            sightings=DynamoSightings(settings.idempotency_table, dynamodb(), settings.idempotency_ttl_seconds),
            skew_seconds=settings.clock_skew_seconds,
        ),
        public_base_url=settings.public_base_url,
        # Verifiers that need an SDK are adapters: the use case gets them as factories per scheme.
        verifiers={"twilio": twilio_verifier},
    )


@cache
def flush_router() -> StreamRouter:
    from bridge.adapters.dynamodb.streams import StreamRouter
    from bridge.config import FlushSettings
    from bridge.flush import FlushService

    settings = FlushSettings.from_env()
    calls = registry(settings.calls_table, settings.max_call_seconds)
    dispatch = dispatcher(settings.twilio, _secret_store(settings.twilio.secrets_max_age_seconds), calls)
    return StreamRouter(
        calls_table=settings.calls_table,
        parked_table=settings.parking.parked_table,
        service=FlushService(
            flusher(settings.parking, calls, dispatch), reserve_seconds=settings.twilio.delivery.reserve_seconds
        ),
    )


@cache
def calls_service() -> CallsService:
    from bridge.calls import CallsService
    from bridge.config import CallsSettings

    settings = CallsSettings.from_env()
    return CallsService(registry(settings.calls_table, settings.max_call_seconds), settings.max_call_seconds)


@cache
def call_status_service() -> CallStatusService:
    from bridge.call_status import CallStatusService
    from bridge.config import CallStatusSettings

    settings = CallStatusSettings.from_env()
    return CallStatusService(
        signatures=_callback_signatures(settings.twilio_secret_id, settings.secrets_max_age_seconds),
        registry=registry(settings.calls_table, settings.max_call_seconds),
        public_base_url=settings.public_base_url,
        max_call_seconds=settings.max_call_seconds,
    )


def _callback_signatures(twilio_secret_id: str, max_age_seconds: int) -> TwilioCallbackSignatures:
    """Twilio's callbacks verified with the auth token of the Twilio secret."""
    from bridge.adapters.twilio.callbacks import TwilioCallbackSignatures
    from bridge.adapters.twilio.credentials import TwilioCredentials

    credentials = _secret_store(max_age_seconds).reader(twilio_secret_id, TwilioCredentials.parse)
    return TwilioCallbackSignatures(lambda: credentials().auth_token)


# -- messages from the call: subscribe, receive, forward ---------------------------------------------


def forwarder(url: str, secret_id: str, secrets: SecretStore, policy: RetryPolicy) -> Forwarder:
    """The forward chain, shared by the forward function and the operator's replay."""
    from bridge.adapters.forwarding import StandardWebhookSender, parse_forward_secrets
    from bridge.forward import Forwarder, check_forward_url

    sender = StandardWebhookSender(check_forward_url(url), secrets.reader(secret_id, parse_forward_secrets))
    return Forwarder(sender, policy)


@cache
def subscribe_router() -> SubscribeRouter:
    from bridge.adapters.dynamodb.owners import DynamoCallOwners, SubscribeRouter
    from bridge.adapters.twilio.subscriptions import TwilioSubscriber
    from bridge.config import SubscribeSettings
    from bridge.errors import ConfigurationError
    from bridge.subscribe import SubscribeService

    settings = SubscribeSettings.from_env()
    twilio, delivery = settings.twilio, settings.twilio.delivery
    subscriber = None
    if settings.forward_url:
        if settings.callback_url is None:
            raise ConfigurationError("PUBLIC_BASE_URL or EXECUTE_API_URL is needed to subscribe to messages")
        subscriber = _twilio_calls(TwilioSubscriber, twilio, _secret_store(twilio.secrets_max_age_seconds))
    service = SubscribeService(
        owners=DynamoCallOwners(settings.calls_table, dynamodb()),
        subscriber=subscriber,
        callback_url=settings.callback_url or "",
        policy=_retry_policy(twilio),
    )
    return SubscribeRouter(service, reserve_seconds=delivery.reserve_seconds)


@cache
def messages_service() -> MessagesService:
    from bridge.adapters.dynamodb.owners import DynamoCallOwners
    from bridge.adapters.sqs import SqsMessageQueue
    from bridge.config import MessagesSettings
    from bridge.messages import MessagesService

    settings = MessagesSettings.from_env()
    signatures = _callback_signatures(settings.twilio_secret_id, settings.secrets_max_age_seconds)
    return MessagesService(
        signatures=signatures,
        json_signatures=signatures,
        owners=DynamoCallOwners(settings.calls_table, dynamodb()),
        queue=SqsMessageQueue(settings.messages_queue_url, sqs()),
        public_base_url=settings.public_base_url,
    )


@cache
def forward_service() -> ForwardService:
    from bridge.config import ForwardSettings
    from bridge.forward import ForwardService
    from bridge.retry import RetryPolicy

    settings = ForwardSettings.from_env()
    forward = None
    if settings.forward_url:
        policy = RetryPolicy(
            max_attempts=settings.max_attempts,
            attempt_timeout=settings.timeout_seconds,
            base_delay=settings.backoff_base_seconds,
            max_delay=settings.backoff_cap_seconds,
        )
        secrets = _secret_store(settings.secrets_max_age_seconds)
        forward = forwarder(settings.forward_url, settings.forward_secret_id, secrets, policy)
    return ForwardService(forward, ledger(settings.ledger_table, settings.ledger_retention_seconds))


@cache
def sqs() -> Any:
    return boto3.client("sqs", config=AWS_CONFIG)


def reset() -> None:
    """Forget every built service and client, as a new container would."""
    for factory in (dynamodb, secretsmanager, ingest_service, calls_service, call_status_service, flush_router):
        factory.cache_clear()
    for other in (sqs, subscribe_router, messages_service, forward_service):
        other.cache_clear()
