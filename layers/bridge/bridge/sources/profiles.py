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
from fnmatch import fnmatchcase
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl

import jmespath
from jmespath.exceptions import JMESPathError

from bridge.domain.errors import ConfigurationError, MalformedBody, SchemaViolation, UnsupportedMediaType
from bridge.domain.events import DEFAULT_SOURCE, EVENT_TYPE, MAX_ID_CHARS, Event, is_event_type
from bridge.domain.inbound import media_type
from bridge.domain.keys import MAX_KEY_CHARS, is_plain_text, is_recipient_key
from bridge.domain.limits import parse_limited_json
from bridge.sources.schemas import schema_errors, strict_validator, type_validator, validator_for

# What each built-in scheme knows about its sender's deliveries, unless the profile says otherwise.
_SCHEME_DEFAULTS: dict[str, dict[str, str]] = {
    "standard-webhooks": {"event_id": 'headers."webhook-id"', "type": "body.type", "data": "body"},
    "github": {"event_id": 'headers."x-github-delivery"', "type": 'headers."x-github-event"', "data": "body"},
    "stripe": {"event_id": "body.id", "type": "body.type", "timestamp": "body.created", "data": "body.data.object"},
    "hmac": {"data": "body"},
    # TaskRouter, Studio and other Twilio callbacks: form fields (or JSON), signed with the auth token.
    "twilio": {
        "event_id": 'body.Sid || body.EventSid || headers."i-twilio-idempotency-token"',
        "type": "body.EventType",
        "timestamp": "to_number(body.Timestamp)",
        "data": "body",
    },
}
_MEDIA_TYPE_HINTS = {"github": " In the GitHub webhook settings, choose Content type application/json."}
_FIELDS = ("event_id", "type", "timestamp", "to", "data", "hold")
# Deliveries a scheme's sender makes that never concern anyone, whatever the profile forwards.
_SCHEME_IGNORED = {"github": {"ping": "GitHub's ping, sent when a webhook is created or tested"}}
# What a delivery whose `to` finds no recipient gets: ignored (2xx) or rejected (422).
IGNORE, REJECT = "ignore", "reject"
# Why a delivery was acknowledged and not delivered: the `ignored` outcome's reason.
PING, NOT_FORWARDED, NO_RECIPIENT = "ping", "type_not_forwarded", "no_recipient"
# Epoch numbers above this are milliseconds (HubSpot's occurredAt): as seconds they'd be past year 5000.
_MILLISECONDS_FROM = 100_000_000_000

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
    """What an HMAC sender signs, declared: the parts of the message in order, and what joins them.

    Parts: `body` (raw), `timestamp` (the timestamp header's value), `method`, `url` (as the sender
    called it, rebuilt with PUBLIC_BASE_URL) and `header:<name>`. Without `signed`, the message is
    the body, or `<timestamp>.<body>` when there is a timestamp header.
    """

    header: str
    algorithm: str = "sha256"
    encoding: str = "hex"
    prefix: str = ""
    timestamp_header: str | None = None
    timestamp_format: str = "unix"  # unix (seconds), unix-ms or iso8601
    signed: tuple[str, ...] | None = None
    separator: str | None = None
    url_unescape: str = ""  # characters whose %XX escapes the sender decodes in the URL it signs

    @property
    def parts(self) -> tuple[str, ...]:
        if self.signed is not None:
            return self.signed
        return ("timestamp", "body") if self.timestamp_header else ("body",)

    @property
    def joiner(self) -> str:
        return "." if self.separator is None else self.separator


@dataclass(frozen=True)
class Ignored:
    """A delivery that concerns no one: acknowledged with a 2xx, nothing posted, nothing stored."""

    reason: str  # ping, type_not_forwarded or no_recipient
    detail: str
    event_id: str
    type: str
    source: str


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
    forward: tuple[str, ...] | None = None  # event types (names or glob patterns) it forwards; None: all
    no_recipient: str = REJECT  # what a delivery whose `to` finds no recipient gets

    @property
    def signs_timestamp(self) -> bool:
        """Whether the signature covers a timestamp, so a captured delivery can't be replayed later."""
        if self.scheme == "hmac":
            settings = self.hmac
            # A timestamp header outside the signed parts proves nothing: anyone can refresh it.
            return (
                settings is not None
                and settings.timestamp_header is not None
                and (settings.signed is None or "timestamp" in settings.signed)
            )
        # GitHub signs the body only; Twilio the URL and the body, never a time.
        return self.scheme not in ("github", "twilio")

    def dedupe_id(self, body: bytes) -> str | None:
        """Without a signed timestamp, the signed body itself is the event: deduplicated by its
        digest, whatever (unsigned) delivery ID comes with it."""
        return None if self.signs_timestamp else "sha256:" + hashlib.sha256(body).hexdigest()

    def delivery_id(self, headers: Mapping[str, str]) -> str | None:
        """The delivery's ID when a header carries it: known before the body is read, for the logs."""
        found = _search(self.expressions["event_id"], {"headers": dict(headers), "body": None})
        return str(found) if isinstance(found, str | int) and found != "" else None

    def require_json(self, content_type: str) -> None:
        found = media_type(content_type)
        if found != "application/json":
            hint = _MEDIA_TYPE_HINTS.get(self.scheme, "")
            raise UnsupportedMediaType(f"Content-Type must be application/json, got {found or 'none'}.{hint}")

    def parse_body(self, content_type: str, body: bytes) -> Any:
        """The delivery's body as JSON; Twilio's callbacks may also be form fields (first value of each)."""
        if self.scheme == "twilio" and media_type(content_type) == "application/x-www-form-urlencoded":
            try:
                return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
            except UnicodeDecodeError:
                raise MalformedBody("The form body is not valid UTF-8.") from None
        self.require_json(content_type)
        return parse_limited_json(body)

    def forwards(self, event_type: str) -> bool:
        return self.forward is None or any(fnmatchcase(event_type, pattern) for pattern in self.forward)

    def extract(self, headers: Mapping[str, str], body: Any) -> Event | Ignored:
        """The event this delivery carries, or why it concerns no one (a GitHub ping, a type the
        profile doesn't forward, no recipient); 422 when it breaks its schema or has no ID or type."""
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
        else:
            ignored = self._ignored(str(event_id), str(event_type), to)
            if ignored is not None and not problems:
                return ignored
        if not is_recipient_key(to):
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

    def _ignored(self, event_id: str, event_type: str, to: Any) -> Ignored | None:
        def ignored(reason: str, detail: str) -> Ignored:
            return Ignored(reason=reason, detail=detail, event_id=event_id, type=event_type, source=self.name)

        scheme_ignored = _SCHEME_IGNORED.get(self.scheme, {})
        if event_type in scheme_ignored:
            return ignored(PING, scheme_ignored[event_type])
        if not self.forwards(event_type):
            return ignored(NOT_FORWARDED, f"the {self.name} profile does not forward {event_type} events")
        if (to is None or to == "") and self.no_recipient == IGNORE:
            return ignored(NO_RECIPIENT, f"the {self.name} profile's `to` found no recipient in this delivery")
        return None

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
        if abs(value) >= _MILLISECONDS_FROM:
            value = value / 1000
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
    hmac_settings = None
    if "hmac" in raw:
        signed = raw["hmac"].get("signed")
        hmac_settings = HmacSettings(**{**raw["hmac"], "signed": tuple(signed) if signed is not None else None})
    forward = raw.get("forward")
    return Profile(
        name=name,
        scheme=raw["scheme"],
        expressions={field: _compile(name, field, text) for field, text in fields.items()},
        tolerance_seconds=int(raw.get("tolerance_seconds", 300)),
        hmac=hmac_settings,
        hold_seconds=raw.get("hold_seconds"),
        forward=tuple(forward) if forward is not None else None,
        # A named source's deliveries that name no one are acknowledged; the bridge's own envelope
        # must name its recipient.
        no_recipient=raw.get("no_recipient", REJECT if name == DEFAULT_SOURCE else IGNORE),
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
    return parse_profiles(json.loads((resources.files("bridge.sources") / "sources.json").read_text(encoding="utf-8")))
