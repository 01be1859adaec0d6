"""The ingest use case: verify -> parse -> validate -> build content -> claim -> resolve -> deliver.

It knows nothing about boto3, twilio or API Gateway: those sit behind the ports it is given.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bridge.envelope import DEFAULT_SOURCE, Event, checked_content, parse_event, parse_json
from bridge.errors import CallNotActive, NoActiveCall, TwilioUnavailable, UnknownSource, UnsupportedMediaType
from bridge.observability import logger, record_latency
from bridge.retry import BudgetExhausted, Deadline, RetryPolicy, Transient, run_with_retries
from bridge.signatures import Verifier, verifier_for

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from bridge.delivery import MessageSender
    from bridge.idempotency import IdempotencyGate
    from bridge.registry import CallRegistry
    from bridge.sources import Profile


@dataclass(frozen=True)
class InboundRequest:
    body: bytes
    headers: Mapping[str, str]  # lower-case names, as API Gateway HTTP APIs deliver them


@dataclass(frozen=True)
class Delivered:
    event_id: str
    call_sid: str
    message_sid: str
    source: str = DEFAULT_SOURCE
    replayed: bool = False

    def body(self) -> dict[str, str]:
        body = {
            "status": "delivered",
            "event_id": self.event_id,
            "call_sid": self.call_sid,
            "message_sid": self.message_sid,
        }
        if self.source != DEFAULT_SOURCE:
            body["source"] = self.source
        return body


class IngestService:
    def __init__(
        self,
        *,
        webhook_secrets: Callable[[], Mapping[str, Sequence[str]]],
        profiles: Mapping[str, Profile],
        registry: CallRegistry,
        sender: MessageSender,
        idempotency: IdempotencyGate,
        retry_policy: RetryPolicy,
        max_content_bytes: int,
        reserve_seconds: float = 1.0,
    ) -> None:
        self._webhook_secrets = webhook_secrets
        self._profiles = profiles
        self._registry = registry
        self._sender = sender
        self._idempotency = idempotency
        self._retry_policy = retry_policy
        self._max_content_bytes = max_content_bytes
        self._reserve = reserve_seconds
        self._verifiers: dict[str, tuple[tuple[str, ...], Verifier]] = {}

    def handle(self, request: InboundRequest, context: LambdaContext, source: str = DEFAULT_SOURCE) -> Delivered:
        profile = None
        if source != DEFAULT_SOURCE:
            profile = self._profiles.get(source)
            if profile is None:
                raise UnknownSource(f"No source is called {source!r}.", source=source)
        # Authenticity first: nothing about the body is looked at or revealed before it.
        secrets = tuple(self._webhook_secrets().get(source, ()))
        self._verifier(source, profile, secrets).verify(request.body, request.headers)
        if profile is None:
            logger.set_correlation_id(request.headers["webhook-id"])

        _require_json(request.headers.get("content-type", ""), profile)
        document = parse_json(request.body)
        if profile is None:
            event = parse_event(request.headers["webhook-id"], document)
        else:
            event = profile.extract(request.headers, document)
            logger.set_correlation_id(event.key)
        content = checked_content(event, self._max_content_bytes)
        deadline = Deadline(context.get_remaining_time_in_millis, reserve=self._reserve)

        result, replayed = self._idempotency.run(
            event.key, event.body, lambda: self._deliver(event, content, deadline), context
        )
        return Delivered(
            event_id=result["event_id"],
            call_sid=result["call_sid"],
            message_sid=result["message_sid"],
            source=event.source,
            replayed=replayed,
        )

    def _deliver(self, event: Event, content: str, deadline: Deadline) -> dict[str, Any]:
        call = self._registry.active_call(event.to)
        if call is None:
            raise NoActiveCall(f"{event.to} has no active call.", recipient=event.to)
        started = time.perf_counter()
        try:
            sent = run_with_retries(
                lambda timeout: self._sender.send(call.call_sid, content, event.key, timeout),
                self._retry_policy,
                deadline,
                on_retry=_log_retry,
            )
        except BudgetExhausted as exhausted:
            raise TwilioUnavailable(
                f"Twilio did not accept the message after {exhausted.attempts} attempt(s): {exhausted}.",
                retry_after=exhausted.retry_after_seconds,
            ) from None
        except CallNotActive as gone:
            removed = self._registry.forget_stale(event.to, gone.call_sid)
            logger.info(
                "stale mapping removed" if removed else "stale mapping already replaced",
                recipient=event.to,
                call_sid=gone.call_sid,
                twilio_code=gone.twilio_code,
            )
            raise NoActiveCall(f"{event.to} has no active call.", recipient=event.to) from None
        record_latency("delivery_latency", (time.perf_counter() - started) * 1000)
        return Delivered(event_id=event.id, call_sid=sent.call_sid, message_sid=sent.message_sid).body()

    def _verifier(self, source: str, profile: Profile | None, secrets: tuple[str, ...]) -> Verifier:
        # Rebuilt only when the source's secrets change (rotation).
        cached = self._verifiers.get(source)
        if cached is None or cached[0] != secrets:
            cached = (secrets, verifier_for(profile, secrets))
            self._verifiers[source] = cached
        return cached[1]


def _require_json(content_type: str, profile: Profile | None) -> None:
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        hint = ""
        if profile is not None and profile.scheme == "github":
            hint = " In the GitHub webhook settings, choose Content type application/json."
        raise UnsupportedMediaType(f"Content-Type must be application/json, got {media_type or 'none'}.{hint}")


def _log_retry(attempt: int, failure: Transient, pause: float) -> None:
    logger.warning("twilio attempt failed; retrying", attempt=attempt, reason=failure.reason, pause_s=round(pause, 3))
