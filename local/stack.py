"""The local stack: moto's server as DynamoDB and Secrets Manager, the Twilio emulator, and the
HTTP front, all on loopback. Tables come from template.yaml's own definitions; secrets are seeded
with random local values every start, so nothing secret-looking lives in the repository."""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from local import moto_speed, template
from local.front import HttpFront
from local.lambda_runtime import RUNTIME, invoke
from local.senders import new_webhook_secret
from local.senders import standard_webhooks_headers as sign
from local.sqs import QueuePoller
from local.streams import StreamPoller, StreamReader, TtlSweeper
from local.twilio_emulator import Account, TwilioEmulator
from local.webhook_receiver import WebhookReceiver

if TYPE_CHECKING:
    from local.console import Console

TWILIO_SECRET_NAME = "udm-bridge/local/twilio"
WEBHOOK_SECRET_NAME = "udm-bridge/local/webhook"
FORWARD_SECRET_NAME = "udm-bridge/local/forward"
REGION = "us-east-1"
STACK_USER_AGENT = "udm-bridge-local-stack"
# Keys of the create_table API that a template's table properties map onto directly.
_TABLE_KEYS = ("AttributeDefinitions", "KeySchema", "BillingMode", "GlobalSecondaryIndexes", "LocalSecondaryIndexes")


def available(host: str, port: int) -> int:
    """`port` when nothing listens on it, else 0 (the OS picks a free one): `make run` starts anywhere."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the servers bind: SO_REUSEADDR, so a port in TIME_WAIT after a previous run still counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return 0
    return port


def aws_environment(endpoint: str) -> dict[str, str]:
    """boto3's own variables: no custom endpoint settings, no metadata probes, dummy credentials."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


# An event source mapping retries a throttled batch until a container is free: it waits.
_mapping_invoke = partial(invoke, wait=True)


class _KeepAliveHandler(MotoRequestHandler):
    # AWS endpoints keep connections alive. werkzeug's server still closes each connection after one
    # answer (it sends `Connection: close` whatever the protocol), so each call opens a connection
    # here; bench's latency phase puts a keep-alive proxy in front (local/dynamo_faults.py).
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True


class _OneDynamoDBWriteAtATime:
    """DynamoDB checks a condition and writes an item atomically; moto checks, then writes, in Python
    threads that can switch in between, so two writers could both pass one condition (a registry
    version, a parked event's claim). Tests saw one of eight concurrent registrations lost that way.
    Serialising DynamoDB's writes restores the guarantee the bridge relies on; reads, other services
    and the streams stay concurrent, so the bridge's overlapped read and claim still overlap."""

    _WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})

    def __init__(self, app: Any) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        service, _, operation = str(environ.get("HTTP_X_AMZ_TARGET", "")).partition(".")
        if not service.startswith("DynamoDB_") or operation not in self._WRITES:
            return self._app(environ, start_response)
        with self._lock:
            return list(self._app(environ, start_response))


class MotoServer:
    """moto's server, as ThreadedMotoServer runs it, with DynamoDB's writes made atomic. `wrap` puts
    a WSGI middleware of the caller's in front (the burst bench counts DynamoDB operations)."""

    def __init__(self, host: str, port: int, wrap: Callable[[Any], Any] | None = None) -> None:
        moto_speed.apply()
        app: Any = _OneDynamoDBWriteAtATime(DomainDispatcherApplication(create_backend_app))
        if wrap is not None:
            app = wrap(app)
        self._server: BaseWSGIServer = make_server(host, port, app, threaded=True, request_handler=_KeepAliveHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def get_host_and_port(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass(frozen=True)
class Credentials:
    account: Account
    webhook_secret: str
    # Per-source secrets, as the secret's JSON object holds them; `default` is webhook_secret.
    source_secrets: dict[str, str]


def random_account() -> Account:
    return Account(
        account_sid="AC" + secrets.token_hex(16),
        auth_token=secrets.token_hex(16),
        api_key_sid="SK" + secrets.token_hex(16),
        api_key_secret=secrets.token_hex(16),
    )


class LocalStack:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        moto_port: int = 0,
        emulator_port: int = 0,
        front_port: int | None = None,
        streams: bool = True,
        receiver_port: int = 0,
        console_port: int | None = None,
        concurrency: int | None = None,
        function_concurrency: Mapping[str, int] | None = None,
        aws_endpoint: str | None = None,
    ) -> None:
        self.host = host
        # A moto server already serving elsewhere (another process: the burst bench gives moto a
        # core of its own); else the stack starts one in this process.
        self._external_aws = aws_endpoint
        # Functions without ReservedConcurrentExecutions get `concurrency` (default: Lambda's account
        # quota, 1,000); `function_concurrency` overrides any function's, by logical ID.
        self._concurrency = concurrency
        self._function_concurrency = dict(function_concurrency or {})
        self._moto_port = moto_port
        self._emulator_port = emulator_port
        self._front_port = front_port
        self.template = template.load()
        self.functions = self.template.functions()
        account = random_account()
        self.credentials = Credentials(
            account=account,
            webhook_secret=new_webhook_secret(),
            source_secrets={
                "github": secrets.token_hex(20),
                "stripe": "whsec_" + secrets.token_hex(16),
                "zendesk": secrets.token_urlsafe(32),
                "hubspot": secrets.token_hex(18),
                "intercom": secrets.token_hex(20),
                "shopify": secrets.token_hex(32),
                # Twilio signs its own callbacks (TaskRouter, Studio) with the account's auth token.
                "twilio": account.auth_token,
                "twilio-event-streams": account.auth_token,
            },
        )
        self.emulator = TwilioEmulator([self.credentials.account], host=host, port=emulator_port)
        self.front: HttpFront | None = None
        self._streams = streams
        self.sweeper: TtlSweeper | None = None
        self.pollers: list[StreamPoller] = []
        self.readers: list[StreamReader] = []
        self._moto: MotoServer | None = None
        self.aws_endpoint = ""
        # The systems that sent the events: where call messages are forwarded, as Standard Webhooks.
        self.forward_secret = new_webhook_secret()
        self.receiver = WebhookReceiver(self.forward_secret, host=host, port=receiver_port)
        self.queue_urls: dict[str, str] = {}
        self.queue_pollers: list[QueuePoller] = []
        self._console_port = console_port
        self.console: Console | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> LocalStack:
        # moto's server logs one access line per request through werkzeug.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        RUNTIME.configure(self._concurrency, self._function_concurrency)
        if self._external_aws:
            self.aws_endpoint = self._external_aws
        else:
            self._moto = MotoServer(self.host, self._moto_port)
            self._moto.start()
            host, port = self._moto.get_host_and_port()
            self.aws_endpoint = f"http://{host}:{port}"
        self.create_tables()
        self.create_queues()
        self.seed_secrets()
        self.emulator.start()
        self.receiver.start()
        if self._front_port is not None:
            self.front = HttpFront(self.functions, self.host, self._front_port).start()
        if self._streams:
            self.start_streams()
        if self._console_port is not None:
            from local.console import Console  # only make run's stack has one

            self.console = Console(self, self._console_port).start()
        return self

    def start_streams(self) -> None:
        """DynamoDB's TTL process and the template's stream event source mappings."""
        ttl_tables = {
            self.table_name(logical_id): properties["TimeToLiveSpecification"]["AttributeName"]
            for logical_id, properties in self.template.tables().items()
            if properties.get("TimeToLiveSpecification", {}).get("Enabled")
        }
        self.sweeper = TtlSweeper(self.client("dynamodb"), ttl_tables).start()
        self.start_queues()
        readers: dict[tuple[str, str], StreamReader] = {}
        for function in self.functions.values():
            for source in function.streams:
                table = self.table_name(source.table)
                reader = readers.get((table, source.starting_position))
                if reader is None:
                    reader = readers[table, source.starting_position] = StreamReader(
                        table=table,
                        starting_position=source.starting_position,
                        streams_client=self.client("dynamodbstreams"),
                        dynamodb_client=self.client("dynamodb"),
                        sweeper=self.sweeper,
                    )
                poller = StreamPoller(
                    function,
                    source,
                    reader=reader,
                    on_failure=self._sender(source.on_failure) if source.on_failure else None,
                    invoke=_mapping_invoke,
                )
                self.pollers.append(poller.start())
        self.readers = [reader.start() for reader in readers.values()]

    def settle(self, timeout: float = 10.0) -> None:
        """Waits until every stream poller has caught up (what was written so far is handled)."""
        for poller in self.pollers:
            poller.wait_idle(timeout)
        for queue_poller in self.queue_pollers:
            queue_poller.wait_idle(timeout)

    def stop(self) -> None:
        if self.console is not None:
            self.console.stop()
        for reader in self.readers:
            reader.stop()
        for poller in self.pollers:
            poller.stop()
        for queue_poller in self.queue_pollers:
            queue_poller.stop()
        self.receiver.stop()
        if self.sweeper is not None:
            self.sweeper.stop()
        if self.front is not None:
            self.front.stop()
        self.emulator.stop()
        if self._moto is not None:
            self._moto.stop()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # -- AWS side ------------------------------------------------------------------------------

    def client(self, service: str) -> Any:
        """A client of the stack's own (pollers, the TTL sweeper, tests), marked in its User-Agent so a
        count of the bridge's AWS calls can leave it out."""
        return boto3.client(  # type: ignore[call-overload]
            service,
            endpoint_url=self.aws_endpoint,
            region_name=REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",
            config=Config(user_agent_extra=STACK_USER_AGENT),
        )

    def table_name(self, logical_id: str) -> str:
        # Locally a table is named after its logical ID; CloudFormation names the deployed ones.
        return logical_id

    def create_tables(self) -> None:
        dynamodb = self.client("dynamodb")
        for logical_id, properties in self.template.tables().items():
            request = {key: properties[key] for key in _TABLE_KEYS if key in properties}
            if "StreamSpecification" in properties:
                request["StreamSpecification"] = {"StreamEnabled": True, **properties["StreamSpecification"]}
            dynamodb.create_table(TableName=self.table_name(logical_id), **request)
            ttl = properties.get("TimeToLiveSpecification")
            if ttl:
                dynamodb.update_time_to_live(TableName=self.table_name(logical_id), TimeToLiveSpecification=ttl)

    def create_queues(self) -> None:
        """The template's queues, dead-letter queues first so a redrive policy can name them."""
        sqs = self.client("sqs")
        queues = self.template.queues()
        ordered = sorted(queues, key=lambda logical_id: "RedrivePolicy" in queues[logical_id])
        for logical_id in ordered:
            properties = queues[logical_id]
            attributes = {"VisibilityTimeout": str(properties.get("VisibilityTimeout", 30))}
            redrive = properties.get("RedrivePolicy")
            if redrive:
                target = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
                attributes["RedrivePolicy"] = json.dumps(
                    {"deadLetterTargetArn": self.queue_arn(target), "maxReceiveCount": redrive["maxReceiveCount"]}
                )
            self.queue_urls[logical_id] = sqs.create_queue(QueueName=logical_id, Attributes=attributes)["QueueUrl"]

    def queue_arn(self, logical_id: str) -> str:
        attributes = self.client("sqs").get_queue_attributes(
            QueueUrl=self.queue_urls[logical_id], AttributeNames=["QueueArn"]
        )
        return str(attributes["Attributes"]["QueueArn"])

    def start_queues(self) -> None:
        """The template's SQS event source mappings."""
        for function in self.functions.values():
            for source in function.queues:
                poller = QueuePoller(
                    function,
                    source,
                    queue_url=self.queue_urls[source.queue],
                    queue_arn=self.queue_arn(source.queue),
                    client=self.client("sqs"),
                    invoke=_mapping_invoke,
                )
                self.queue_pollers.append(poller.start())

    def queue_url(self, logical_id: str) -> str:
        return self.queue_urls[logical_id]

    def _sender(self, logical_id: str) -> Callable[[dict[str, Any]], None]:
        """Sends a failed stream batch's description to an OnFailure queue, as Lambda does."""
        sqs, url = self.client("sqs"), self.queue_url(logical_id)
        return lambda description: sqs.send_message(QueueUrl=url, MessageBody=json.dumps(description))

    def seed_secrets(self) -> None:
        manager = self.client("secretsmanager")
        account = self.credentials.account
        twilio_secret = {"account_sid": account.account_sid, "auth_token": account.auth_token}
        manager.create_secret(Name=TWILIO_SECRET_NAME, SecretString=json.dumps(twilio_secret))
        manager.create_secret(Name=WEBHOOK_SECRET_NAME, SecretString=json.dumps(self.webhook_secrets()))
        manager.create_secret(Name=FORWARD_SECRET_NAME, SecretString=self.forward_secret)

    def webhook_secrets(self) -> dict[str, str]:
        """The webhook secret's JSON object: a secret per source."""
        return {"default": self.credentials.webhook_secret, **self.credentials.source_secrets}

    def put_secret(self, name: str, value: str) -> None:
        self.client("secretsmanager").put_secret_value(SecretId=name, SecretString=value)

    # -- functions -----------------------------------------------------------------------------

    def references(self) -> dict[str, str]:
        """Local values for the template's Refs: parameters take their defaults unless named here."""
        values = {name: str(spec["Default"]) for name, spec in self.template.parameters.items() if "Default" in spec}
        values.update({logical_id: self.table_name(logical_id) for logical_id in self.template.tables()})
        values.update({"TwilioSecretArn": TWILIO_SECRET_NAME, "WebhookSecretArn": WEBHOOK_SECRET_NAME})
        # Messages from the call: the queues, the API's own name, and the local receiver.
        values.update(self.queue_urls)
        values.update({"BridgeApi": "local", "AWS::Region": REGION, "AWS::URLSuffix": "amazonaws.com"})
        values.update({"ForwardUrl": self.receiver.url, "ForwardSecretArn": FORWARD_SECRET_NAME})
        return values

    def environment(self) -> dict[str, str]:
        """Every function's environment from the template, plus what points them at this stack."""
        references = self.references()
        env: dict[str, str] = {}
        for function in self.functions.values():
            for name, value in function.environment.items():
                env.setdefault(name, template.resolve(value, references))
        env.update(aws_environment(self.aws_endpoint))
        env["TWILIO_API_BASE_URL"] = self.emulator.base_url
        if self.front is not None:
            # Twilio (the emulator) signs the URL it calls, which is the front's, not https://<Host>.
            env["PUBLIC_BASE_URL"] = self.front.base_url
        return env

    def apply_environment(self) -> None:
        """Handlers run in this process, so they read their configuration from its environment."""
        os.environ.update(self.environment())

    def invoke(self, logical_id: str, event: dict[str, Any]) -> dict[str, Any]:
        return invoke(self.functions[logical_id], event)

    def concurrency(self) -> dict[str, dict[str, float]]:
        """Each invoked function's limit, peak concurrency, invocations, throttles, containers, busy time."""
        return {name: stats.as_dict() for name, stats in RUNTIME.concurrency().items()}

    # -- senders -------------------------------------------------------------------------------

    def sign(self, body: bytes | str, event_id: str | None = None, timestamp: float | None = None) -> dict[str, str]:
        """Standard Webhooks headers for a body, signed with this stack's default webhook secret."""
        return sign(body, self.credentials.webhook_secret, event_id=event_id, timestamp=timestamp)
