"""What the console shows besides the feed, read from the local stack as it is now: the live calls
(the registry's keys, the emulator's SDK legs, the UDMs each received, the messages sent from it and
the webhooks the CRM's receiver verified for them) and the ledger. Keys and numbers are masked; a
UDM's Content is kept as the call received it, since the agent panel shows what the agent sees."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from bridge.domain.call_message import OWNER_PREFIX
from bridge.domain.phones import mask_key, mask_phone, mask_phones

if TYPE_CHECKING:
    from bridge.adapters.dynamodb.ledger import DynamoLedger
    from bridge.adapters.dynamodb.registry import DynamoCallRegistry
    from bridge.domain.parking import LedgerEntry
    from local.twilio_emulator import TwilioEmulator
    from local.webhook_receiver import Delivery

MESSAGES_PER_CALL = 50
SENT_PER_CALL = 20
LEDGER_ENTRIES = 100


def ledger_ref(event_key: str) -> str:
    """A ledger entry's handle on the page: its key may hold a phone number, which the page shows masked."""
    return hashlib.sha256(event_key.encode("utf-8")).hexdigest()[:24]


def calls(
    registry: DynamoCallRegistry, emulator: TwilioEmulator, received: Iterable[Delivery], now: float
) -> list[dict[str, Any]]:
    """Each live call, newest first, with the keys it is registered under and what went through it."""
    found: dict[str, dict[str, Any]] = {}
    for key, state in registry.every_key():
        if key.startswith(OWNER_PREFIX):
            continue
        for call_sid, entry in state.live(now):
            call = found.setdefault(call_sid, {"call_sid": call_sid, "keys": [], "started": entry.started})
            call["keys"].append(mask_key(key))
            call["started"] = min(call["started"], entry.started)
    by_call: dict[str, list[dict[str, Any]]] = {}
    for message in emulator.messages():
        by_call.setdefault(message["call_sid"], []).append(message)
    sent_by_call: dict[str, list[dict[str, Any]]] = {}
    for sent in emulator.subscriptions.messages():
        sent_by_call.setdefault(sent["call_sid"], []).append(sent)
    forwarded: dict[str, list[dict[str, Any]]] = {}
    for delivery in received:
        forwarded.setdefault(delivery.headers.get("webhook-id", ""), []).append(_forwarded(delivery))
    views = []
    for call_sid, call in found.items():
        call["keys"].sort(key=lambda key: (not key.startswith("identity:"), key))
        call.update(_leg(emulator, call_sid))
        received_here = by_call.get(call_sid, [])[-MESSAGES_PER_CALL:]
        call["messages"] = [
            {"sid": m["sid"], "at": m["date_created"], "content": m["content"]} for m in reversed(received_here)
        ]
        sent_here = sent_by_call.get(call_sid, [])[-SENT_PER_CALL:]
        call["sent"] = [_sent(sent, forwarded.get(sent["sid"], [])) for sent in reversed(sent_here)]
        views.append(call)
    return sorted(views, key=lambda call: (-call["started"], call["call_sid"]))


def _leg(emulator: TwilioEmulator, call_sid: str) -> dict[str, Any]:
    try:
        leg = emulator.get_call(call_sid)
    except KeyError:
        return {"status": "not at the emulator"}  # registered by hand (PUT /calls, the CLI)
    return {
        "status": leg["status"],
        "from": mask_phone(leg["from"]) if str(leg.get("from", "")).startswith("+") else leg.get("from"),
        "direction": leg.get("direction"),
    }


def _sent(sent: dict[str, Any], forwarded: list[dict[str, Any]]) -> dict[str, Any]:
    params = sent["params"]
    return {
        "sid": sent["sid"],
        "content_type": params["ContentType"],
        "content": mask_phones(params["Content"]),
        "callbacks": [delivery["status_code"] or delivery["error"] for delivery in sent["deliveries"]],
        "forwarded": forwarded,
    }


def _forwarded(delivery: Delivery) -> dict[str, Any]:
    verified = delivery.verified
    return {
        "status": delivery.status,
        "verified": verified is not None,
        "payload": mask_phones(json.dumps(verified, ensure_ascii=False)) if verified is not None else None,
    }


def ledger(entries: Iterable[LedgerEntry]) -> list[dict[str, Any]]:
    """The ledger's entries, newest failure first, replayed ones included and marked."""
    newest = sorted(entries, key=lambda entry: entry.failed_at, reverse=True)[:LEDGER_ENTRIES]
    return [
        {
            "ref": ledger_ref(entry.event_key),
            "event_key": mask_phones(entry.event_key),
            "event_id": mask_phones(entry.event_id),
            "source": entry.source,
            "recipient": mask_key(entry.recipient),
            "reason": entry.reason,
            "detail": mask_phones(entry.detail),
            "attempts": entry.attempts,
            "failed_at": entry.failed_at,
            "replayed_at": entry.replayed_at,
            "replay_message_sid": entry.replay_message_sid,
            "content": mask_phones(entry.content),
        }
        for entry in newest
    ]


def ledger_entry(store: DynamoLedger, ref: str) -> LedgerEntry | None:
    """The entry a page's handle names, replayed or not."""
    entries, _malformed = store.failed_since(0, include_replayed=True)
    for entry in entries:
        if ledger_ref(entry.event_key) == ref:
            return entry
    return None
