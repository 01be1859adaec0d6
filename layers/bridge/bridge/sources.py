"""Source profiles: how a named source signs its webhooks and where its event's parts are.

`/events` is the built-in source `default` (Standard Webhooks, the bridge's own envelope). Every
other source is described in sources.json, shipped in the layer and validated when the layer
loads: a bad profile stops the function from starting, with a message naming the problem.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError
from jsonschema import Draft202012Validator

from bridge.envelope import Event, schema_errors, validator_for
from bridge.errors import ConfigurationError, SchemaViolation
from bridge.registry import MAX_KEY_CHARS

MAX_ID_CHARS = 256

# What each built-in scheme knows about its sender's deliveries, unless the profile says otherwise.
_SCHEME_DEFAULTS: dict[str, dict[str, str]] = {
    "standard-webhooks": {"event_id": 'headers."webhook-id"', "type": "body.type", "data": "body"},
    "github": {"event_id": 'headers."x-github-delivery"', "type": 'headers."x-github-event"', "data": "body"},
    "stripe": {"event_id": "body.id", "type": "body.type", "timestamp": "body.created", "data": "body.data.object"},
    "hmac": {"data": "body"},
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
    expressions: dict[str, Any]  # compiled JMESPath: event_id, type, to, data, optional timestamp
    tolerance_seconds: int = 300
    hmac: HmacSettings | None = None
    schema: str | None = None
    hold_seconds: int | None = None  # default parking hold for this source's events

    def extract(self, headers: Mapping[str, str], body: Any) -> Event:
        """The event this delivery carries; 422 when the profile finds no ID, type or recipient."""
        if self.schema is not None:
            errors = schema_errors(validator_for(self.schema), body)
            if errors:
                raise SchemaViolation(f"The {self.name} delivery has {len(errors)} schema violation(s).", errors=errors)
        document = {"headers": dict(headers), "body": body}
        values = {name: _search(expression, document) for name, expression in self.expressions.items()}
        problems = []
        event_id, event_type, to = values.get("event_id"), values.get("type"), values.get("to")
        if not isinstance(event_id, str | int) or not 1 <= len(str(event_id)) <= MAX_ID_CHARS:
            problems.append(("event_id", "found no event ID"))
        if not isinstance(event_type, str) or not event_type:
            problems.append(("type", "found no event type"))
        if not isinstance(to, str) or not 1 <= len(to) <= MAX_KEY_CHARS:
            problems.append(("to", "found no recipient key of 1 to 256 characters"))
        if problems:
            raise SchemaViolation(
                f"The {self.name} profile could not read this delivery.",
                errors=[
                    {"pointer": "", "message": f"the {self.name} profile's `{field}` {text}"}
                    for field, text in problems
                ],
            )
        data = values.get("data")
        return Event(
            id=str(event_id),
            type=str(event_type),
            timestamp=_rfc3339(values.get("timestamp")),
            to=str(to),
            data=data if data is not None else {},
            body=body,
            source=self.name,
        )


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


def parse_profiles(document: Any) -> dict[str, Profile]:
    errors = schema_errors(Draft202012Validator(_profiles_schema()), document)
    if errors:
        listed = "; ".join(f"{error['pointer'] or '/'}: {error['message']}" for error in errors)
        raise ConfigurationError(f"sources.json is invalid: {listed}")
    profiles = {}
    for name, raw in document["sources"].items():
        fields = {
            **_SCHEME_DEFAULTS[raw["scheme"]],
            **{k: raw[k] for k in ("event_id", "type", "timestamp", "to", "data") if k in raw},
        }
        expressions = {field: _compile(name, field, text) for field, text in fields.items()}
        schema = raw.get("schema")
        if schema is not None and not (resources.files("bridge") / "schemas" / "sources" / schema).is_file():
            raise ConfigurationError(f"sources.json: {name}.schema names {schema}, which is not in schemas/sources/")
        profiles[name] = Profile(
            name=name,
            scheme=raw["scheme"],
            expressions=expressions,
            tolerance_seconds=int(raw.get("tolerance_seconds", 300)),
            hmac=HmacSettings(**raw["hmac"]) if "hmac" in raw else None,
            schema=f"sources/{schema}" if schema else None,
            hold_seconds=raw.get("hold_seconds"),
        )
    return profiles


def _profiles_schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((resources.files("bridge") / "schemas" / "sources.schema.json").read_text())
    return loaded


@cache
def load_profiles() -> dict[str, Profile]:
    """The shipped profiles, parsed once per container; raises ConfigurationError when invalid."""
    return parse_profiles(json.loads((resources.files("bridge") / "sources.json").read_text(encoding="utf-8")))
