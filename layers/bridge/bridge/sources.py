"""Source profiles: how a source signs its webhooks and where its event's parts are.

Every source is a profile, read the same way. `default` is built in: Standard Webhooks carrying
the bridge's own envelope (schemas/envelope.schema.json, then schemas/types/<type>.schema.json for
its data), served at `/events` and `/events/default`. The named sources are described in
sources.json, shipped in the layer and validated when the layer loads: a bad profile stops the
function from starting, with a message naming the problem.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError

from bridge.envelope import schema_errors, strict_validator, type_validator, validator_for
from bridge.errors import ConfigurationError, SchemaViolation, UnsupportedMediaType
from bridge.model import (
    DEFAULT_SOURCE,
    EVENT_TYPE,
    MAX_ID_CHARS,
    MAX_KEY_CHARS,
    Event,
    is_event_type,
    is_plain_text,
)

# What each built-in scheme knows about its sender's deliveries, unless the profile says otherwise.
_SCHEME_DEFAULTS: dict[str, dict[str, str]] = {
    "standard-webhooks": {"event_id": 'headers."webhook-id"', "type": "body.type", "data": "body"},
    "github": {"event_id": 'headers."x-github-delivery"', "type": 'headers."x-github-event"', "data": "body"},
    "stripe": {"event_id": "body.id", "type": "body.type", "timestamp": "body.created", "data": "body.data.object"},
    "hmac": {"data": "body"},
}
_MEDIA_TYPE_HINTS = {"github": " In the GitHub webhook settings, choose Content type application/json."}
_FIELDS = ("event_id", "type", "timestamp", "to", "data", "hold")

# The bridge's own envelope, as a profile: the sender names the type, time, recipient and hold.
_DEFAULT_PROFILE: dict[str, Any] = {
    "scheme": "standard-webhooks",
    "type": "body.type",
    "timestamp": "body.timestamp",
    "to": "body.to",
    "data": "body.data",
    "hold": "body.hold_seconds",
}


@dataclass(frozen=True)
class HmacSettings:
    header: str
    algorithm: str = "sha256"
    encoding: str = "hex"
    prefix: str = ""
    timestamp_header: str | None = None


@dataclass(frozen=True)
class Profile:
    name: str
    scheme: str
    expressions: dict[str, Any]  # compiled JMESPath: event_id, type, to, data; optional timestamp, hold
    tolerance_seconds: int = 300
    hmac: HmacSettings | None = None
    schema: str | None = None  # under schemas/: the body's schema
    typed_data: bool = False  # the data is checked again by schemas/types/<type>.schema.json
    hold_seconds: int | None = None  # default parking hold for this source's events
    noun: str = "event"  # how problem details name one of its deliveries

    @property
    def signs_timestamp(self) -> bool:
        """Whether the signature covers a timestamp, so a captured delivery can't be replayed later."""
        if self.scheme == "hmac":
            return self.hmac is not None and self.hmac.timestamp_header is not None
        return self.scheme != "github"

    def dedupe_id(self, body: bytes) -> str | None:
        """Without a signed timestamp, the signed body itself is the event: deduplicated by its
        digest, whatever (unsigned) delivery ID comes with it."""
        return None if self.signs_timestamp else "sha256:" + hashlib.sha256(body).hexdigest()

    def delivery_id(self, headers: Mapping[str, str]) -> str | None:
        """The delivery's ID when a header carries it: known before the body is read, for the logs."""
        found = _search(self.expressions["event_id"], {"headers": dict(headers), "body": None})
        return str(found) if isinstance(found, str | int) and found != "" else None

    def require_json(self, content_type: str) -> None:
        media_type = content_type.split(";", 1)[0].strip().lower()
        if media_type != "application/json":
            hint = _MEDIA_TYPE_HINTS.get(self.scheme, "")
            raise UnsupportedMediaType(f"Content-Type must be application/json, got {media_type or 'none'}.{hint}")

    def extract(self, headers: Mapping[str, str], body: Any) -> Event:
        """The event this delivery carries; 422 when it breaks its schema or has no ID, type or recipient."""
        if self.schema is not None:
            self._check(schema_errors(validator_for(self.schema), body))
        document = {"headers": dict(headers), "body": body}
        values = {name: _search(expression, document) for name, expression in self.expressions.items()}
        problems = []
        event_id, event_type, to = values.get("event_id"), values.get("type"), values.get("to")
        if not _is_id(event_id):
            problems.append(("event_id", f"found no event ID of 1 to {MAX_ID_CHARS} characters without control ones"))
        if not is_event_type(event_type):
            # Checked like a signed field even when an unsigned header (X-GitHub-Event) carries it.
            problems.append(("type", f"found no event type matching ^{EVENT_TYPE.pattern}$"))
        if not isinstance(to, str) or not 1 <= len(to) <= MAX_KEY_CHARS or not is_plain_text(to):
            problems.append(("to", f"found no recipient key of 1 to {MAX_KEY_CHARS} characters without control ones"))
        if problems:
            raise SchemaViolation(
                f"The {self.name} profile could not read this delivery.",
                errors=[
                    {"pointer": "", "message": f"the {self.name} profile's `{field}` {text}"}
                    for field, text in problems
                ],
            )
        data = values.get("data")
        if self.typed_data:
            validator = type_validator(str(event_type))
            if validator is not None:
                self._check(schema_errors(validator, data, prefix="/data"))
        hold = values.get("hold")
        return Event(
            id=str(event_id),
            type=str(event_type),
            timestamp=_rfc3339(values.get("timestamp")),
            to=str(to),
            data=data if data is not None else {},
            body=body,
            source=self.name,
            hold_seconds=_whole_seconds(hold),
        )

    def _check(self, errors: list[dict[str, str]]) -> None:
        if errors:
            raise SchemaViolation(f"The {self.noun} has {len(errors)} schema violation(s).", errors=errors)


def _is_id(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return False
    text = str(value)
    return 1 <= len(text) <= MAX_ID_CHARS and is_plain_text(text)


def _whole_seconds(value: Any) -> int | None:
    # JSON Schema counts 1.0 as an integer; so does the hold, and it stays an int from here on.
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if isinstance(value, int) else None


def _search(expression: Any, document: dict[str, Any]) -> Any:
    try:
        return expression.search(document)
    except JMESPathError:
        # join() and friends raise on a missing (null) field: that is "not found", not a crash.
        return None


def _rfc3339(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value, tz=UTC).isoformat().replace("+00:00", "Z")
        except (OverflowError, OSError, ValueError):
            return None
    return str(value) if isinstance(value, str) and value else None


def _compile(source: str, field: str, text: str) -> Any:
    try:
        return jmespath.compile(text)
    except JMESPathError as error:
        raise ConfigurationError(f"sources.json: {source}.{field} is not valid JMESPath: {error}") from None


def _profile(name: str, raw: Mapping[str, Any], **built_in: Any) -> Profile:
    fields = {**_SCHEME_DEFAULTS[raw["scheme"]], **{k: raw[k] for k in _FIELDS if k in raw}}
    return Profile(
        name=name,
        scheme=raw["scheme"],
        expressions={field: _compile(name, field, text) for field, text in fields.items()},
        tolerance_seconds=int(raw.get("tolerance_seconds", 300)),
        hmac=HmacSettings(**raw["hmac"]) if "hmac" in raw else None,
        hold_seconds=raw.get("hold_seconds"),
        **built_in,
    )


def default_profile() -> Profile:
    return _profile(DEFAULT_SOURCE, _DEFAULT_PROFILE, schema="envelope.schema.json", typed_data=True)


def parse_profiles(document: Any) -> dict[str, Profile]:
    """The built-in default profile and every profile of a sources.json document."""
    errors = schema_errors(strict_validator(_profiles_schema(), formats=False), document)
    if errors:
        listed = "; ".join(f"{error['pointer'] or '/'}: {error['message']}" for error in errors)
        raise ConfigurationError(f"sources.json is invalid: {listed}")
    profiles = {DEFAULT_SOURCE: default_profile()}
    for name, raw in document["sources"].items():
        schema = raw.get("schema")
        if schema is not None and not (resources.files("bridge") / "schemas" / "sources" / schema).is_file():
            raise ConfigurationError(f"sources.json: {name}.schema names {schema}, which is not in schemas/sources/")
        profiles[name] = _profile(name, raw, schema=f"sources/{schema}" if schema else None, noun=f"{name} delivery")
    return profiles


def _profiles_schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((resources.files("bridge") / "schemas" / "sources.schema.json").read_text())
    return loaded


@cache
def load_profiles() -> dict[str, Profile]:
    """The shipped profiles, parsed once per container; raises ConfigurationError when invalid."""
    return parse_profiles(json.loads((resources.files("bridge") / "sources.json").read_text(encoding="utf-8")))
