"""The calls API use case: register, read and remove the call a recipient key maps to."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bridge.domain.calls import CALL_SID
from bridge.domain.errors import CallNotFound, InvalidRequest, RegistrationSchemaViolation, UnsupportedMediaType
from bridge.domain.inbound import media_type
from bridge.domain.keys import recipient_key
from bridge.domain.limits import parse_limited_json
from bridge.sources.schemas import schema_errors, strict_validator

if TYPE_CHECKING:
    from bridge.domain.calls import ActiveCall
    from bridge.ports import CallRegistry


class Calls:
    def __init__(self, registry: CallRegistry, max_call_seconds: int) -> None:
        self._registry = registry
        self._max_call_seconds = max_call_seconds
        self._put_validator = strict_validator(
            {
                "type": "object",
                "required": ["call_sid"],
                "additionalProperties": False,
                "properties": {
                    "call_sid": {"type": "string", "pattern": CALL_SID.pattern},
                    "ttl_seconds": {"type": "integer", "minimum": 1, "maximum": max_call_seconds},
                },
            },
            formats=False,
        )

    def register(self, raw_key: str, body: bytes, content_type: str) -> ActiveCall:
        key = recipient_key(raw_key)
        if media_type(content_type) != "application/json":
            raise UnsupportedMediaType("Content-Type must be application/json.")
        document: Any = parse_limited_json(body)
        errors = schema_errors(self._put_validator, document)
        if errors:
            raise RegistrationSchemaViolation(f"The registration has {len(errors)} schema violation(s).", errors=errors)
        ttl = int(document.get("ttl_seconds", self._max_call_seconds))
        return self._registry.register(key, document["call_sid"], ttl)

    def get(self, raw_key: str) -> dict[str, Any]:
        """The call ingest messages for the key (the newest live one), and every live call."""
        key = recipient_key(raw_key)
        live = self._registry.live_calls(key)
        if not live:
            raise CallNotFound(f"No call is registered for {key}.")
        newest_sid, newest = live[0]
        return {
            "key": key,
            "call_sid": newest_sid,
            "expires_at": newest.expires_at,
            "calls": [
                {"call_sid": sid, "started_at": round(entry.started, 3), "expires_at": entry.expires_at}
                for sid, entry in live
            ],
        }

    def remove(self, raw_key: str, call_sid: str | None) -> None:
        key = recipient_key(raw_key)
        if call_sid is not None and not CALL_SID.fullmatch(call_sid):
            raise InvalidRequest("call_sid must look like CA followed by 32 hex digits.")
        self._registry.remove(key, call_sid)
