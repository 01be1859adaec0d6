"""The composition root: the one module that imports adapters and plugs them into the use cases.

Each function's use case is built once per container, on first use. Tests and the local stack get
fresh ones by calling `reset()`; nothing patches module globals. The operator's CLI builds its
registry, ledger and delivery with the same builders, so both run the same delivery chain.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from bridge.adapters.dynamodb.registry import DynamoCallRegistry
from bridge.adapters.secrets import SecretStore
from bridge.domain.records import Record

# Each function imports only what its own use case needs, inside its builder: the calls function
# never pays for twilio, jsonschema's formats or Powertools Idempotency at cold start.
if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_secretsmanager.client import SecretsManagerClient

    from bridge.adapters.dynamodb.ledger import DynamoLedger
    from bridge.adapters.twilio.signatures import TwilioRequestSignatures
    from bridge.domain.retry import RetryPolicy
    from bridge.settings import LedgerSettings, ParkingSettings, RegistrySettings, TwilioAccount, TwilioApi
    from bridge.sources.profiles import Profile
    from bridge.sources.signatures import Verifier
    from bridge.usecases.call_message_in import CallMessageIn
    from bridge.usecases.call_message_out import CallMessageOut, Forwarder
    from bridge.usecases.call_status import CallStatus
    from bridge.usecases.calls import Calls
    from bridge.usecases.flush import ParkedFlush
    from bridge.usecases.ingest import Ingest
    from bridge.usecases.subscribe import Subscribe
    from bridge.usecases.udm_out import UdmOut


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

    def forget(self) -> None:
        with self._lock:
            self._value = None


_built: list[_Once[Any]] = []


def once_per_container[T](build: Callable[[], T]) -> _Once[T]:
    built = _Once(build)
    _built.append(built)
    return built


def reset() -> None:
    """Forget every built use case and client, as a new container would."""
    for built in _built:
        built.forget()


# Short timeouts and few retries: a sender is waiting, and the retry budget lives in the use case.
AWS_CONFIG = Config(
    connect_timeout=1,
    read_timeout=2,
    retries={"mode": "standard", "max_attempts": 3},
    tcp_keepalive=True,
)


@once_per_container
def dynamodb() -> DynamoDBClient:
    return boto3.client("dynamodb", config=AWS_CONFIG)


@once_per_container
def secretsmanager() -> SecretsManagerClient:
    # From boto3's default session, as dynamodb() is: one botocore loader per container. A session of
    # its own (Powertools' default) reads botocore's data directory and endpoints again on the
    # first event (make bench).
    return boto3.client("secretsmanager", config=AWS_CONFIG)


@once_per_container
def sqs() -> Any:
    return boto3.client("sqs", config=AWS_CONFIG)


# -- builders, shared by the functions and the operator's CLI ----------------------------------------


def registry(settings: RegistrySettings, client: DynamoDBClient | None = None) -> DynamoCallRegistry:
    return DynamoCallRegistry(settings.calls_table, client or dynamodb(), tombstone_seconds=settings.max_call_seconds)


def ledger(settings: LedgerSettings, client: DynamoDBClient | None = None) -> DynamoLedger:
    from bridge.adapters.dynamodb.ledger import DynamoLedger

    return DynamoLedger(settings.ledger_table, client or dynamodb(), settings.retention_seconds)


def udm_out(twilio: TwilioApi, secrets: SecretStore, calls: DynamoCallRegistry) -> UdmOut:
    """The Twilio delivery chain: credentials from the secret, the real client, the retry budget."""
    from bridge.adapters.twilio.udm_out import TwilioUdmSender
    from bridge.usecases.udm_out import UdmOut

    return UdmOut(_twilio_calls(TwilioUdmSender, twilio, secrets), twilio.retry.policy(), calls)


def _twilio_calls[T](kind: Callable[..., T], twilio: TwilioApi, secrets: SecretStore) -> T:
    """A Twilio adapter on call resources: credentials from the secret, a per-attempt timeout."""
    from bridge.adapters.twilio.credentials import TwilioCredentials
    from bridge.adapters.twilio.rest import http_client

    return kind(
        credentials=secrets.reader(twilio.account.secret_id, TwilioCredentials.parse),
        http_client=http_client(timeout=twilio.retry.timeout_seconds),
        base_url=twilio.api_base_url,
    )


def parked_flush(
    parking: ParkingSettings,
    ledger_settings: LedgerSettings,
    calls: DynamoCallRegistry,
    delivery: UdmOut,
    client: DynamoDBClient | None = None,
) -> ParkedFlush:
    from bridge.adapters.dynamodb.parked import DynamoParkedStore
    from bridge.usecases.flush import ParkedFlush

    store = DynamoParkedStore(parking.parked_table, client or dynamodb())
    return ParkedFlush(store, calls, delivery, ledger(ledger_settings, client=client))


def twilio_signatures(account: TwilioAccount, secrets: SecretStore) -> TwilioRequestSignatures:
    """Twilio's requests verified with the auth token of the Twilio secret."""
    from bridge.adapters.twilio.credentials import TwilioCredentials
    from bridge.adapters.twilio.signatures import TwilioRequestSignatures

    credentials = secrets.reader(account.secret_id, TwilioCredentials.parse)
    return TwilioRequestSignatures(lambda: [credentials().auth_token or ""])


def forwarder(url: str, secret_id: str, secrets: SecretStore, policy: RetryPolicy) -> Forwarder:
    """The forward chain, shared by the forward function and the operator's replay."""
    from bridge.adapters.webhooks_out import StandardWebhookSender, parse_forward_secrets
    from bridge.usecases.call_message_out import Forwarder, check_forward_url

    sender = StandardWebhookSender(check_forward_url(url), secrets.reader(secret_id, parse_forward_secrets))
    return Forwarder(sender, policy)


def _secret_store(max_age_seconds: int) -> SecretStore:
    return SecretStore(max_age_seconds, client=secretsmanager())


# -- one use case per function ----------------------------------------------------------------------


@once_per_container
def ingest() -> Ingest:
    from bridge.adapters.dynamodb.first_seen import DynamoFirstSeen
    from bridge.adapters.dynamodb.idempotency import PowertoolsIdempotencyGate
    from bridge.settings import IngestSettings
    from bridge.sources.profiles import load_profiles
    from bridge.sources.signatures import parse_secrets
    from bridge.usecases.ingest import Freshness, Ingest, Parking

    settings = IngestSettings.from_env()
    secrets = _secret_store(settings.secrets.max_age_seconds)
    # The first event needs both secrets: their round trip runs while the DynamoDB client is built.
    secrets.prefetch(settings.webhook_secret_id, settings.twilio.account.secret_id)
    calls = registry(settings.registry)
    delivery = udm_out(settings.twilio, secrets, calls)
    idempotency = settings.idempotency
    flush = parked_flush(settings.parking, settings.ledger, calls, delivery)
    return Ingest(
        secrets=secrets.reader(settings.webhook_secret_id, parse_secrets),
        profiles=load_profiles(),
        registry=calls,
        udm_out=delivery,
        idempotency=PowertoolsIdempotencyGate(idempotency.idempotency_table, dynamodb(), idempotency.ttl_seconds),
        max_content_bytes=settings.limits.max_content_bytes,
        parking=Parking(
            store=flush.store,
            flush=flush,
            max_hold_seconds=settings.parking.max_hold_seconds,
            default_hold_seconds=settings.parking.default_hold_seconds,
        ),
        ledger=ledger(settings.ledger),
        freshness=Freshness(
            # First-seen times live beside the idempotency records, for as long as they do.
            first_seen=DynamoFirstSeen(idempotency.idempotency_table, dynamodb(), idempotency.ttl_seconds),
            skew_seconds=settings.limits.clock_skew_seconds,
        ),
        public_base_url=settings.public.public_base_url,
        # The twilio source's secrets are the account's auth tokens, checked as every Twilio request is.
        verifiers={"twilio": _twilio_source_verifier},
    )


def _twilio_source_verifier(_: Profile, tokens: Sequence[str]) -> Verifier:
    # twilio's RequestValidator is imported by the first event from Twilio, not by every cold start.
    from bridge.adapters.twilio.signatures import TwilioRequestSignatures
    from bridge.sources.signatures import TwilioVerifier

    return TwilioVerifier(TwilioRequestSignatures(lambda: tokens))


class FlushStreams(Record, eq=True):
    """The flush use case, and the tables whose streams feed it."""

    flush: ParkedFlush
    calls_table: str
    parked_table: str


@once_per_container
def flush() -> FlushStreams:
    from bridge.settings import FlushSettings

    settings = FlushSettings.from_env()
    calls = registry(settings.registry)
    delivery = udm_out(settings.twilio, _secret_store(settings.secrets.max_age_seconds), calls)
    flush = parked_flush(settings.parking, settings.ledger, calls, delivery)
    return FlushStreams(flush, calls_table=settings.registry.calls_table, parked_table=settings.parking.parked_table)


@once_per_container
def calls() -> Calls:
    from bridge.settings import CallsSettings
    from bridge.usecases.calls import Calls

    settings = CallsSettings.from_env()
    return Calls(registry(settings.registry), settings.registry.max_call_seconds)


@once_per_container
def call_status() -> CallStatus:
    from bridge.settings import CallStatusSettings
    from bridge.usecases.call_status import CallStatus

    settings = CallStatusSettings.from_env()
    return CallStatus(
        signatures=twilio_signatures(settings.twilio, _secret_store(settings.secrets.max_age_seconds)),
        registry=registry(settings.registry),
        public_base_url=settings.public.public_base_url,
        max_call_seconds=settings.registry.max_call_seconds,
    )


# -- messages from the call: subscribe, receive, forward ---------------------------------------------


@once_per_container
def subscribe() -> Subscribe:
    from bridge.adapters.dynamodb.call_owners import DynamoCallOwners
    from bridge.adapters.twilio.subscriptions import TwilioSubscriber
    from bridge.domain.errors import ConfigurationError
    from bridge.settings import SubscribeSettings
    from bridge.usecases.subscribe import Subscribe

    settings = SubscribeSettings.from_env()
    subscriber = None
    if settings.forward.forward_url:
        if settings.callback_url is None:
            raise ConfigurationError("PUBLIC_BASE_URL or EXECUTE_API_URL is needed to subscribe to messages")
        secrets = _secret_store(settings.secrets.max_age_seconds)
        subscriber = _twilio_calls(TwilioSubscriber, settings.twilio, secrets)
    return Subscribe(
        owners=DynamoCallOwners(settings.registry.calls_table, dynamodb()),
        subscriber=subscriber,
        callback_url=settings.callback_url or "",
        policy=settings.twilio.retry.policy(),
    )


@once_per_container
def call_message_in() -> CallMessageIn:
    from bridge.adapters.dynamodb.call_owners import DynamoCallOwners
    from bridge.adapters.dynamodb.message_claims import DynamoMessageClaims
    from bridge.adapters.sqs import SqsCallMessageQueue
    from bridge.settings import MessagesSettings
    from bridge.usecases.call_message_in import CallMessageIn

    settings = MessagesSettings.from_env()
    # A claim outlives any call that could have sent the message, by the idempotency window.
    claim_seconds = settings.registry.max_call_seconds + settings.idempotency.ttl_seconds
    return CallMessageIn(
        signatures=twilio_signatures(settings.twilio, _secret_store(settings.secrets.max_age_seconds)),
        owners=DynamoCallOwners(settings.registry.calls_table, dynamodb()),
        claims=DynamoMessageClaims(settings.idempotency.idempotency_table, dynamodb(), claim_seconds),
        queue=SqsCallMessageQueue(settings.messages_queue_url, sqs()),
        public_base_url=settings.public.public_base_url,
    )


@once_per_container
def call_message_out() -> CallMessageOut:
    from bridge.settings import ForwardSettings
    from bridge.usecases.call_message_out import CallMessageOut

    settings = ForwardSettings.from_env()
    forward = None
    if settings.forward.forward_url:
        secrets = _secret_store(settings.secrets.max_age_seconds)
        forward = forwarder(settings.forward.forward_url, settings.forward_secret_id, secrets, settings.retry.policy())
    return CallMessageOut(forward, ledger(settings.ledger))
