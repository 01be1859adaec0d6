"""What the emulator writes the way Twilio does: JSON replies, Twilio's error body and its dates.

A Reply is built by whoever decides the answer (the model, the control API, a fault) and written by
the request handler, so nothing outside server.py needs to know about sockets.
"""

from __future__ import annotations

import email.utils
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

JSONDict = dict[str, Any]


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_reply(status: int, payload: object, headers: Mapping[str, str] | None = None) -> Reply:
    reply_headers = {"Content-Type": "application/json"}
    reply_headers.update(headers or {})
    return Reply(status, json.dumps(payload).encode("utf-8"), reply_headers)


def twilio_error(status: int, code: int, message: str, headers: Mapping[str, str] | None = None) -> Reply:
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    reply_headers = {"Twilio-Request-Id": "RQ" + secrets.token_hex(16)}
    reply_headers.update(headers or {})
    return json_reply(status, body, reply_headers)


def twilio_not_found(path: str) -> Reply:
    return twilio_error(404, 20404, f"The requested resource {path} was not found")


def rfc2822_now() -> str:
    stamp = email.utils.format_datetime(datetime.now(UTC))
    # Twilio always writes "+0000"; never let a "-0000"/"GMT" variant through.
    if not stamp.endswith("+0000"):
        stamp = stamp.rsplit(" ", 1)[0] + " +0000"
    return stamp


def is_int(value: object) -> bool:
    # bool is an int subclass; True must not silently mean 1.
    return isinstance(value, int) and not isinstance(value, bool)


def _reject_json_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def is_json(text: str) -> bool:
    try:
        json.loads(text, parse_constant=_reject_json_constant)
    except ValueError:  # JSONDecodeError is a ValueError
        return False
    return True
