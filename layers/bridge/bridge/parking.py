"""Parking: events that arrive a moment before their call, held until it registers.

ParkedTable keys parked events by recipient (partition) and arrival (sort key), so flushing a
recipient is one Query, in order. Two paths flush: the CallsTable stream when a call registers,
and ingest right after parking (the registration may have landed in between). Each event is
claimed with a conditional write before it is posted, so exactly one flusher posts it; a claim
is a lease, so a flusher that dies mid-way doesn't strand the event. Posts keep the event's
IdempotencyKey, so even a lease taken over after Twilio accepted can't make a second message.
A failing head event holds the ones behind it: they are never posted out of order.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from bridge.dynamo import CONDITION_FAILED, store_errors
from bridge.errors import CallNotActive, TwilioCredentialsRejected, TwilioRejected, TwilioUnavailable
from bridge.ledger import CALL_ENDED, EXPIRED, TWILIO_REFUSED, Ledger, LedgerEntry
from bridge.observability import count, logger

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

    from bridge.dispatch import Dispatcher
    from bridge.envelope import Event
    from bridge.registry import CallRegistry
    from bridge.retry import Deadline

PARKED = "parked"
CLAIMED = "claimed"
# Longer than one flush of a key can take inside a Lambda's deadline.
LEASE_SECONDS = 60


@dataclass(frozen=True)
class ParkedEvent:
    recipient: str
    arrival: str
    event_key: str
    event_id: str
    source: str
    content: str
    parked_at: float
    expires_at: int
    state: str = PARKED
    lease_until: float = 0.0
    attempts: int = 0

    def ledger_entry(self, reason: str, detail: str, twilio_code: int | None = None) -> LedgerEntry:
        return LedgerEntry(
            event_key=self.event_key,
            event_id=self.event_id,
            source=self.source,
            recipient=self.recipient,
            reason=reason,
            content=self.content,
            attempts=self.attempts,
            parked_at=self.parked_at,
            failed_at=time.time(),
            detail=detail,
            twilio_code=twilio_code,
        )


def decode_parked(item: dict[str, Any]) -> ParkedEvent:
    def number(name: str, default: str = "0") -> float:
        return float(item.get(name, {}).get("N", default))

    return ParkedEvent(
        recipient=item["recipient"]["S"],
        arrival=item["arrival"]["S"],
        event_key=item["event_key"]["S"],
        event_id=item.get("event_id", {}).get("S", ""),
        source=item.get("source", {}).get("S", ""),
        content=item.get("content", {}).get("S", ""),
        parked_at=number("parked_at"),
        expires_at=int(number("expires_at")),
        state=item.get("state", {}).get("S", PARKED),
        lease_until=number("lease_until"),
        attempts=int(number("attempts")),
    )


class ParkedStore:
    def __init__(self, table_name: str, client: DynamoDBClient, clock: Callable[[], float] = time.time) -> None:
        self._table = table_name
        self._client = client
        self._clock = clock

    def park(self, event: Event, content: str, hold_seconds: int) -> ParkedEvent:
        now = self._clock()
        parked = ParkedEvent(
            recipient=event.to,
            # Arrival in nanoseconds, then the key: unique, and sorts as the events came.
            arrival=f"{int(now * 1_000_000_000):020d}#{event.key}",
            event_key=event.key,
            event_id=event.id,
            source=event.source,
            content=content,
            parked_at=now,
            expires_at=int(now) + hold_seconds,
        )
        with store_errors("parking"):
            self._client.put_item(
                TableName=self._table,
                Item={
                    "recipient": {"S": parked.recipient},
                    "arrival": {"S": parked.arrival},
                    "event_key": {"S": parked.event_key},
                    "event_id": {"S": parked.event_id},
                    "source": {"S": parked.source},
                    "content": {"S": parked.content},
                    "parked_at": {"N": repr(parked.parked_at)},
                    "expires_at": {"N": str(parked.expires_at)},
                    "state": {"S": PARKED},
                    "attempts": {"N": "0"},
                },
            )
        return parked

    def pending(self, recipient: str) -> list[ParkedEvent]:
        """Every parked event of a recipient, oldest first: one Query."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "recipient = :recipient",
            "ExpressionAttributeValues": {":recipient": {"S": recipient}},
            "ConsistentRead": True,
        }
        events: list[ParkedEvent] = []
        while True:
            with store_errors("parking"):
                page = self._client.query(**request)
            events += [decode_parked(item) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return events
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def claim(self, event: ParkedEvent, token: str) -> bool:
        """Takes the event for this flusher, unless another holds a live lease on it."""
        now = self._clock()
        try:
            with store_errors("parking", passthrough=CONDITION_FAILED):
                self._client.update_item(
                    TableName=self._table,
                    Key=self._key(event),
                    UpdateExpression="SET #state = :claimed, claim_token = :token, lease_until = :lease "
                    "ADD attempts :one",
                    ConditionExpression="attribute_exists(arrival) AND (#state = :parked OR lease_until < :now)",
                    ExpressionAttributeNames={"#state": "state"},
                    ExpressionAttributeValues={
                        ":claimed": {"S": CLAIMED},
                        ":parked": {"S": PARKED},
                        ":token": {"S": token},
                        ":lease": {"N": repr(now + LEASE_SECONDS)},
                        ":now": {"N": repr(now)},
                        ":one": {"N": "1"},
                    },
                )
        except ClientError:
            return False
        return True

    def release(self, event: ParkedEvent, token: str) -> None:
        """Gives a claimed event back, for a later flush (after a transient failure)."""
        self._conditional(
            event,
            token,
            update="SET #state = :parked REMOVE claim_token, lease_until",
            values={":parked": {"S": PARKED}},
        )

    def remove(self, event: ParkedEvent, token: str | None) -> bool:
        """Deletes a delivered (claimed by `token`) or an expired (still parked) event."""
        condition = "claim_token = :token" if token else "#state = :parked"
        values = {":token": {"S": token}} if token else {":parked": {"S": PARKED}}
        names = {} if token else {"ExpressionAttributeNames": {"#state": "state"}}
        try:
            with store_errors("parking", passthrough=CONDITION_FAILED):
                self._client.delete_item(
                    TableName=self._table,
                    Key=self._key(event),
                    ConditionExpression=condition,
                    ExpressionAttributeValues=values,
                    **names,  # type: ignore[arg-type]
                )
        except ClientError:
            return False
        return True

    def _conditional(self, event: ParkedEvent, token: str, *, update: str, values: dict[str, Any]) -> None:
        try:
            with store_errors("parking", passthrough=CONDITION_FAILED):
                self._client.update_item(
                    TableName=self._table,
                    Key=self._key(event),
                    UpdateExpression=update,
                    ConditionExpression="claim_token = :token",
                    ExpressionAttributeNames={"#state": "state"},
                    ExpressionAttributeValues={**values, ":token": {"S": token}},
                )
        except ClientError:
            pass  # the lease passed to another flusher, which now owns the event

    @staticmethod
    def _key(event: ParkedEvent) -> dict[str, Any]:
        return {"recipient": {"S": event.recipient}, "arrival": {"S": event.arrival}}


@dataclass
class FlushResult:
    delivered: dict[str, tuple[str, str]] = field(default_factory=dict)  # event key -> (call sid, message sid)
    expired: int = 0
    failed: int = 0
    blocked: bool = False  # stopped before the end: the rest wait for the next flush


class Flusher:
    def __init__(
        self,
        store: ParkedStore,
        registry: CallRegistry,
        dispatcher: Dispatcher,
        ledger: Ledger,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._registry = registry
        self._dispatcher = dispatcher
        self._ledger = ledger
        self._clock = clock

    def flush(self, recipient: str, deadline: Deadline) -> FlushResult:
        """Delivers the recipient's parked events in order, each exactly once.

        Raises TwilioUnavailable (after releasing the event) when Twilio fails transiently, so a
        stream batch is retried; the events behind the failing one stay parked, in order.
        """
        result = FlushResult()
        pending = self._store.pending(recipient)
        if not pending:
            return result
        token = secrets.token_hex(8)
        call = self._registry.active_call(recipient)
        for event in pending:
            if event.expires_at <= self._clock():
                if self._store.remove(event, None):
                    self._ledger.record(event.ledger_entry(EXPIRED, "no call registered before the hold ran out"))
                    result.expired += 1
                continue
            if call is None or not self._store.claim(event, token):
                # No call (yet), or another flusher is posting this one: keep the order.
                result.blocked = True
                break
            try:
                sent = self._dispatcher.send(call.call_sid, event.content, event.event_key, deadline)
            except (TwilioUnavailable, TwilioCredentialsRejected):
                self._store.release(event, token)
                raise
            except CallNotActive as gone:
                self._registry.forget_stale(recipient, gone.call_sid)
                count("stale_mappings_removed")
                self._fail(event, token, CALL_ENDED, "the call ended before the event could be delivered", result)
                result.blocked = True
                break
            except TwilioRejected as refused:
                self._fail(event, token, TWILIO_REFUSED, refused.detail, result, refused.twilio_code)
                continue
            self._store.remove(event, token)
            result.delivered[event.event_key] = (sent.call_sid, sent.message_sid)
            logger.info("parked event delivered", event_key=event.event_key, call_sid=sent.call_sid)
        count("flushed", len(result.delivered))
        count("expired", result.expired)
        return result

    def _fail(
        self,
        event: ParkedEvent,
        token: str,
        reason: str,
        detail: str,
        result: FlushResult,
        twilio_code: int | None = None,
    ) -> None:
        # Ledger first: if the delete then fails, a later flush finds the event again, not a hole.
        self._ledger.record(event.ledger_entry(reason, detail, twilio_code))
        self._store.remove(event, token)
        result.failed += 1
        logger.warning("parked event undeliverable", event_key=event.event_key, reason=reason)
