"""What the HTTP front answered, kept for the console: the recent invocations, each summarised as
its outcome (delivered, parked, ignored and why, stale, no call, refused and why) and kept in full,
bounded, for its expanded view. Phone numbers are masked wherever the feed shows text, as in logs."""

from __future__ import annotations

import contextlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from bridge.domain.phones import mask_key, mask_phones
from local.front import Invocation

MAX_ENTRIES = 200
# A body beyond this is shown cut: the console is for looking, not for archiving.
MAX_BODY_CHARS = 64 * 1024

# What an answer's `status` is called in the stream, where its name isn't already plain.
_LABELS = {"no_active_call": "no call", "rejected": "refused"}


def kind_of(path: str) -> str:
    """What sort of request a path is: a sender's event, Twilio's callback, the registry's API."""
    route = urlsplit(path).path
    if route == "/events" or route.startswith("/events/"):
        return "event"
    if route == "/twilio/call-status" or route.startswith("/twilio/call-status/"):
        return "call status"
    if route == "/twilio/messages":
        return "call message"
    if route.startswith("/calls"):
        return "registry"
    return "other"


def readable(body: bytes, headers: dict[str, str]) -> tuple[str, bool]:
    """A body as text to show, phone numbers masked: a form as its fields (JSON), else UTF-8 text.
    Returns it and whether it was cut."""
    if len(body) > MAX_BODY_CHARS:  # too long to lay out: its start, as sent
        return mask_phones(body[:MAX_BODY_CHARS].decode("utf-8", errors="replace")), True
    text = body.decode("utf-8", errors="replace")
    if "application/x-www-form-urlencoded" in headers.get("content-type", ""):
        text = json.dumps(dict(parse_qsl(text, keep_blank_values=True)), indent=2, ensure_ascii=False)
    else:
        with contextlib.suppress(ValueError):  # not JSON: shown as sent
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    cut = len(text) > MAX_BODY_CHARS
    return mask_phones(text[:MAX_BODY_CHARS]), cut


def outcome(status: int, body: bytes) -> dict[str, Any]:
    """The answer's outcome, why, and what it names (event, recipient, the UDMs it made)."""
    try:
        answer = json.loads(body) if body else None
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        return {"outcome": "ok" if status < 400 else "refused" if status < 500 else "error", "why": ""}
    if "title" in answer and "type" in answer:  # an RFC 9457 problem
        code = str(answer.get("code") or "")
        label = "no call" if code == "no_active_call" else "refused" if status < 500 else "error"
        why = ": ".join(part for part in (code, str(answer.get("detail") or "")) if part)
        return {"outcome": label, "why": mask_phones(why), **_names(answer)}
    if isinstance(answer.get("events"), list):  # a batch: each event's own outcome
        counts: dict[str, int] = {}
        named: dict[str, Any] = {"message_sids": []}
        for item in answer["events"]:
            if isinstance(item, dict):
                said = str(item.get("status"))
                label = _LABELS.get(said, said)
                counts[label] = counts.get(label, 0) + 1
                named["message_sids"] += _names(item).get("message_sids", [])
        why = ", ".join(f"{count} {label}" for label, count in counts.items())
        return {"outcome": f"batch {answer.get('status', '')}".strip(), "why": why, **named}
    if isinstance(answer.get("status"), str):
        said = str(answer["status"])
        label = _LABELS.get(said, said)
        parts = (answer.get("reason"), answer.get("detail") or answer.get("code"))
        why = ": ".join(str(part) for part in parts if part)
        return {"outcome": label, "why": mask_phones(why), **_names(answer)}
    return {"outcome": "ok" if status < 400 else "refused" if status < 500 else "error", "why": ""}


def _names(answer: dict[str, Any]) -> dict[str, Any]:
    named: dict[str, Any] = {}
    if isinstance(answer.get("event_id"), str):
        named["event_id"] = mask_phones(answer["event_id"])
    if isinstance(answer.get("recipient"), str):
        named["recipient"] = mask_key(answer["recipient"])
    sids = [answer.get("message_sid")]
    sids += [item.get("message_sid") for item in answer.get("deliveries") or () if isinstance(item, dict)]
    named["message_sids"] = [sid for sid in sids if isinstance(sid, str)]
    return named


class Feed:
    """The recent invocations, newest last; safe to record from the front's concurrent threads."""

    def __init__(self, limit: int = MAX_ENTRIES, on_change: Callable[[], None] | None = None) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._entries: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self._next = 1
        self.on_change = on_change

    def record(self, invocation: Invocation) -> None:
        """The front's observer: summarise one invocation and keep it, dropping the oldest."""
        body, cut = readable(invocation.body, invocation.headers)
        answer, answer_cut = readable(invocation.response_body, invocation.response_headers)
        summary = {
            "at": invocation.started,
            "method": invocation.method,
            "path": mask_phones(invocation.path),
            "kind": kind_of(invocation.path),
            "function": invocation.function,
            "status": invocation.status,
            "ms": round(invocation.duration_ms),
            **outcome(invocation.status, invocation.response_body),
        }
        detail = {
            "request": {"headers": _masked(invocation.headers), "body": body, "truncated": cut},
            "response": {"headers": _masked(invocation.response_headers), "body": answer, "truncated": answer_cut},
        }
        with self._lock:
            entry_id, self._next = self._next, self._next + 1
            self._entries[entry_id] = {"id": entry_id, **summary, "detail": detail}
            while len(self._entries) > self._limit:
                self._entries.popitem(last=False)
        if self.on_change is not None:
            self.on_change()

    def summaries(self) -> list[dict[str, Any]]:
        """Every kept entry without its detail, newest first."""
        with self._lock:
            entries = list(self._entries.values())
        return [{name: value for name, value in entry.items() if name != "detail"} for entry in reversed(entries)]

    def get(self, entry_id: int) -> dict[str, Any] | None:
        with self._lock:
            found = self._entries.get(entry_id)
            return dict(found) if found is not None else None


def _masked(headers: dict[str, str]) -> dict[str, str]:
    return {name: mask_phones(value) for name, value in headers.items()}
