"""Source profiles: how a source signs its webhooks and where its events' parts are.

Every source is a profile, read the same way. `default` is built in: Standard Webhooks carrying
the bridge's own envelope (schemas/envelope.schema.json, then schemas/types/<type>.schema.json for
its data), served at `/events` and `/events/default`. The named sources are described in
sources.json, shipped in the layer and validated when the layer loads: a bad profile stops the
function from starting, with a message naming the problem.

The one rule, enforced here when a profile loads and when a delivery is read: only signed parts of
a request decide an event's ID, type, recipient, time and deduplication.
* A profile's `to` and `timestamp` may read only signed parts (a profile that breaks this does not load).
* Where the ID or the type comes from a part no signature covers (GitHub's and Shopify's headers),
  the event is claimed under the digest of its signed body, whatever the outcome, so a later
  spelling of the same body (another delivery ID, another type header) replays the first answer.
* An ID the signature covers is the event's identity, and the payload it must match leaves out the
  profile's `volatile` fields (retry counters such as HubSpot's attemptNumber).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import field
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl

from jmespath.exceptions import JMESPathError

from bridge.domain.errors import ConfigurationError, MalformedBody, SchemaViolation, UnsupportedMediaType
from bridge.domain.events import DEFAULT_SOURCE, EVENT_TYPE, MAX_ID_CHARS, Event, event_key, is_event_type
from bridge.domain.freshness import event_time
from bridge.domain.inbound import media_type
from bridge.domain.keys import MAX_KEY_CHARS, is_plain_text, recipient_keys
from bridge.domain.limits import parse_limited_json
from bridge.domain.records import Record
from bridge.sources.paths import compile_path
from bridge.sources.schemas import schema_errors, strict_validator, type_validator, validator_for

# What each built-in scheme knows about its sender's deliveries, unless the profile says otherwise.
_SCHEME_DEFAULTS: dict[str, dict[str, str]] = {
    "standard-webhooks": {"event_id": 'headers."webhook-id"', "type": "body.type", "data": "body"},
    "github": {"event_id": 'headers."x-github-delivery"', "type": 'headers."x-github-event"', "data": "body"},
    "stripe": {"event_id": "body.id", "type": "body.type", "timestamp": "body.created", "data": "body.data.object"},
    "hmac": {"data": "body"},
    # TaskRouter, Studio and other Twilio callbacks: form fields (or JSON), signed with the auth token.
    "twilio": {"event_id": "body.EventSid || body.Sid", "type": "body.EventType", "data": "body"},
}
# The headers each scheme's signature covers (hmac profiles add those their `signed` parts name).
_SIGNED_HEADERS: dict[str, frozenset[str]] = {
    "standard-webhooks": frozenset({"webhook-id", "webhook-timestamp"}),
}
_MEDIA_TYPE_HINTS = {"github": " In the GitHub webhook settings, choose Content type application/json."}
_FIELDS = ("event_id", "type", "timestamp", "to", "data", "hold")
# Deliveries a scheme's sender makes that never concern anyone, whatever the profile forwards.
_SCHEME_PINGS = {"github": {"ping": "GitHub's ping, sent when a webhook is created or tested"}}
# What a delivery whose `to` finds no recipient gets: ignored (2xx) or rejected (422).
IGNORE, REJECT = "ignore", "reject"
# Why a delivery was acknowledged and not delivered: the `ignored` outcome's reason.
PING, NOT_FORWARDED, NO_RECIPIENT, TEST, COMPLIANCE = "ping", "type_not_forwarded", "no_recipient", "test", "compliance"
# Epoch numbers above this are milliseconds (HubSpot's occurredAt): as seconds they'd be past year 5000.
_MILLISECONDS_FROM = 100_000_000_000
# A batch is handled inside one invocation: more than this is refused, so the whole batch fits the deadline.
MAX_BATCH = 100
_FORM = "application/x-www-form-urlencoded"

# The bridge's own envelope, as a profile: the sender names the type, time, recipient and hold.
_DEFAULT_PROFILE: dict[str, Any] = {
    "scheme": "standard-webhooks",
    "type": "body.type",
    "timestamp": "body.timestamp",
    "to": "body.to",
    "data": "body.data",
    "hold": "body.hold_seconds",
}


class HmacSettings(Record):
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

    @property
    def signed_headers(self) -> frozenset[str]:
        names = {part.removeprefix("header:").lower() for part in self.parts if part.startswith("header:")}
        if self.timestamp_header and "timestamp" in self.parts:
            names.add(self.timestamp_header.lower())
        return frozenset(names)


class Ignored(Record, eq=True):
    """A delivery that concerns no one: acknowledged with a 2xx and never posted to a call."""

    reason: str  # ping, type_not_forwarded, no_recipient, test or compliance
    detail: str
    event_id: str | None
    type: str | None
    source: str


class Claim(Record, eq=True):
    """What an event is deduplicated under, and the payload a repeat of it must match."""

    key: str
    payload: Any
    dedupe_id: str | None  # the signed body's digest, when it is the identity (not the ID)


class Profile(Record):
    """How one source is read: compiled from its entry in sources.json."""

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
    batch: Any = None  # compiled JMESPath to the array of events in a body; None: one event per body
    volatile: tuple[tuple[str, ...], ...] = ()  # paths left out of an event's identity (retry counters)
    pings: Mapping[str, str] = field(default_factory=dict)  # type -> why: acknowledged before any ID check
    test: Any = None  # compiled JMESPath: true for a sender's test delivery
    deliver_tests: bool = False
    compliance: tuple[str, ...] = ()  # types acknowledged and recorded in the ledger, never delivered
    no_call: str = "accept"  # no live call: answer 2xx no_active_call (accept) or 404 (reject)
    deadline_seconds: float | None = None  # how long the sender waits for an answer
    fanout: str = "latest"  # per recipient key: its newest live call (latest) or every live one (all)
    require: tuple[str, ...] = ()  # fields a delivery must have: `timestamp` (else 422, never a guess)
    unsigned: frozenset[str] = frozenset()  # which of event_id and type read a part no signature covers

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
        """The delivery's body as JSON; Twilio's callbacks may also be form fields."""
        if self.scheme == "twilio" and media_type(content_type) == _FORM:
            return canonical_form(body)
        self.require_json(content_type)
        return parse_limited_json(body)

    def forwards(self, event_type: str) -> bool:
        return self.forward is None or any(fnmatchcase(event_type, pattern) for pattern in self.forward)

    def items(self, body: Any) -> list[Any]:
        """The events a body carries: itself, or each element of its batch (refused when not a list)."""
        if self.schema is not None:
            self._check(schema_errors(validator_for(self.schema), body))
        if self.batch is None:
            return [body]
        found = _search(self.batch, {"body": body})
        if not isinstance(found, list) or not found:
            raise SchemaViolation(f"The {self.noun} holds no batch of events.", errors=[_problem(self, "batch", "")])
        if len(found) > MAX_BATCH:
            raise SchemaViolation(
                f"The {self.noun} holds {len(found)} events; at most {MAX_BATCH} are handled in one request.",
                errors=[_problem(self, "batch", f"holds more than {MAX_BATCH} events")],
            )
        return found

    def ping(self, headers: Mapping[str, str], item: Any) -> Ignored | None:
        """A ping or verification request: acknowledged before any ID check (Intercom's carry none)."""
        event_type = _search(self.expressions["type"], _document(headers, item))
        pings = {**_SCHEME_PINGS.get(self.scheme, {}), **self.pings}
        if isinstance(event_type, str) and event_type in pings:
            event_id = _search(self.expressions["event_id"], _document(headers, item))
            return self._ignored(PING, pings[event_type], event_id if _is_id(event_id) else None, event_type)
        return None

    def claim(self, headers: Mapping[str, str], item: Any) -> Claim:
        """What this event is deduplicated under: its ID when the signature covers it, else the
        digest of its signed body. Volatile fields are in neither."""
        stable = _without(item, self.volatile)
        if "event_id" in self.unsigned or "type" in self.unsigned:
            digest = "sha256:" + hashlib.sha256(canonical_json(stable).encode("utf-8")).hexdigest()
            return Claim(event_key(self.name, digest), stable, dedupe_id=digest)
        event_id = _search(self.expressions["event_id"], _document(headers, item))
        if not _is_id(event_id):
            raise self._unreadable([("event_id", f"found no event ID of 1 to {MAX_ID_CHARS} characters")])
        return Claim(event_key(self.name, str(event_id)), stable, dedupe_id=None)

    def extract(self, headers: Mapping[str, str], body: Any) -> Event | Ignored:
        """The first event a body carries (its only one, but for a batch): checked against the
        profile's schema, a ping acknowledged, then read."""
        item = self.items(body)[0]
        return self.ping(headers, item) or self.read(headers, item)

    def read(self, headers: Mapping[str, str], item: Any) -> Event | Ignored:
        """The event this delivery carries, or why it concerns no one (a type the profile doesn't
        forward, a test delivery, a compliance topic, no recipient); 422 when it breaks its schema
        or lacks an ID, a type, a required time or a recipient."""
        document = _document(headers, item)
        values = {name: _search(expression, document) for name, expression in self.expressions.items()}
        problems = []
        event_id, event_type = values.get("event_id"), values.get("type")
        if not _is_id(event_id):
            problems.append(("event_id", f"found no event ID of 1 to {MAX_ID_CHARS} characters without control ones"))
        if not is_event_type(event_type):
            problems.append(("type", f"found no event type matching ^{EVENT_TYPE.pattern}$"))
        elif not problems:
            ignored = self._ignored_by_type(headers, item, str(event_id), str(event_type))
            if ignored is not None:
                return ignored
        timestamp = _rfc3339(values.get("timestamp"))
        if "timestamp" in self.require and event_time(timestamp) is None:
            problems.append(("timestamp", "found no event time, which this source's deliveries always carry"))
        try:
            recipients = recipient_keys(values.get("to"))
        except ValueError as error:
            problems.append(("to", str(error)))
            recipients = ()
        if not recipients and not problems:
            if self.no_recipient == IGNORE:
                detail = f"the {self.name} profile's `to` found no recipient in this delivery"
                return self._ignored(NO_RECIPIENT, detail, str(event_id), str(event_type))
            problems.append(("to", f"found no recipient key of 1 to {MAX_KEY_CHARS} characters without control ones"))
        if problems:
            raise self._unreadable(problems)
        data = values.get("data")
        if self.typed_data:
            validator = type_validator(str(event_type))
            if validator is not None:
                self._check(schema_errors(validator, data, prefix="/data"))
        return Event(
            id=str(event_id),
            type=str(event_type),
            timestamp=timestamp,
            to=recipients[0],
            more_to=recipients[1:],
            data=data if data is not None else {},
            body=item,
            source=self.name,
            hold_seconds=_whole_seconds(values.get("hold")),
        )

    def _ignored_by_type(self, headers: Mapping[str, str], item: Any, event_id: str, event_type: str) -> Ignored | None:
        if event_type in self.compliance:
            detail = f"a {event_type} compliance request: acknowledged and recorded in the ledger, never shown"
            return self._ignored(COMPLIANCE, detail, event_id, event_type)
        if not self.forwards(event_type):
            return self._ignored(
                NOT_FORWARDED, f"the {self.name} profile does not forward {event_type} events", event_id, event_type
            )
        if self.test is not None and not self.deliver_tests and _search(self.test, _document(headers, item)) is True:
            return self._ignored(
                TEST, f"a test delivery from {self.name}; set deliver_tests to show them", event_id, event_type
            )
        return None

    def _ignored(self, reason: str, detail: str, event_id: Any, event_type: str | None) -> Ignored:
        return Ignored(reason, detail, None if event_id is None else str(event_id), event_type, self.name)

    def _unreadable(self, problems: Sequence[tuple[str, str]]) -> SchemaViolation:
        return SchemaViolation(
            f"The {self.name} profile could not read this delivery.",
            errors=[_problem(self, name, text) for name, text in problems],
        )

    def _check(self, errors: list[dict[str, str]]) -> None:
        if errors:
            raise SchemaViolation(f"The {self.noun} has {len(errors)} schema violation(s).", errors=errors)


def _problem(profile: Profile, name: str, text: str) -> dict[str, str]:
    return {"pointer": "", "message": f"the {profile.name} profile's `{name}` {text}".rstrip()}


def _document(headers: Mapping[str, str], item: Any) -> dict[str, Any]:
    return {"headers": dict(headers), "body": item}


def canonical_json(value: Any) -> str:
    """One spelling of a parsed document: sorted keys, no insignificant space."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_form(body: bytes) -> dict[str, str]:
    """Form fields as Twilio signs them: by name, so field order and percent-encoding don't matter.
    A repeated field is refused: the signature covers every value, the profile reads one."""
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        raise MalformedBody("The form body is not valid UTF-8.") from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name in fields:
            raise MalformedBody(f"The form field {name!r} is repeated; each field may appear once.")
        fields[name] = value
    return fields


def _without(item: Any, paths: tuple[tuple[str, ...], ...]) -> Any:
    """The item with the volatile fields removed (a copy; the item itself is untouched)."""
    if not paths or not isinstance(item, dict):
        return item
    copy = json.loads(json.dumps(item))
    for path in paths:
        node: Any = copy
        for part in path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(path[-1], None)
    return copy


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


# -- loading --------------------------------------------------------------------------------------


def headers_read(node: Mapping[str, Any], top: bool = True) -> set[str]:
    """The request headers a JMESPath expression reads ('*' for all of them), from its syntax tree:
    `headers.<name>` at the document's root, or `headers` itself."""
    kind, children = node.get("type"), node.get("children", [])
    if kind == "field":
        return {"*"} if top and node.get("value") == "headers" else set()
    if kind == "subexpression":
        first, rest = children[0], children[1:]
        if first.get("type") == "field" and first.get("value") == "headers":
            named = rest[0] if rest else None
            return {str(named["value"]).lower()} if named and named.get("type") == "field" else {"*"}
        found = headers_read(first, top)
        for child in rest:
            found |= headers_read(child, False)
        return found
    if kind in ("projection", "filter_projection"):
        # The left side reads the current node; the rest reads each element it projects.
        return headers_read(children[0], top) | set().union(*(headers_read(c, False) for c in children[1:]))
    return set().union(set(), *(headers_read(child, top) for child in children))


def _compile(source: str, name: str, text: str) -> Any:
    try:
        return compile_path(text)
    except JMESPathError as error:
        raise ConfigurationError(f"sources.json: {source}.{name} is not valid JMESPath: {error}") from None


def _unsigned(name: str, scheme: str, hmac: HmacSettings | None, expressions: Mapping[str, Any]) -> frozenset[str]:
    """Which fields read a header the source's signature doesn't cover. `to` and `timestamp` may
    not: a profile that lets an unsigned part choose the recipient or the time does not load."""
    signed = _SIGNED_HEADERS.get(scheme, frozenset()) | (hmac.signed_headers if hmac else frozenset())
    unsigned = set()
    for field_name, expression in expressions.items():
        read = headers_read(expression.parsed)
        if read - signed:
            if field_name in ("to", "timestamp", "hold"):
                raise ConfigurationError(
                    f"sources.json: {name}.{field_name} reads {', '.join(sorted(read - signed))}, which the "
                    "signature doesn't cover: only signed parts may decide the recipient, the time or the hold"
                )
            unsigned.add(field_name)
    return frozenset(unsigned)


def _profile(name: str, raw: Mapping[str, Any], **built_in: Any) -> Profile:
    fields = {**_SCHEME_DEFAULTS[raw["scheme"]], **{k: raw[k] for k in _FIELDS if k in raw}}
    hmac_settings = None
    if "hmac" in raw:
        signed = raw["hmac"].get("signed")
        hmac_settings = HmacSettings(**{**raw["hmac"], "signed": tuple(signed) if signed is not None else None})
    expressions = {field_name: _compile(name, field_name, text) for field_name, text in fields.items()}
    forward = raw.get("forward")
    batch = raw.get("batch")
    test = raw.get("test")
    return Profile(
        name=name,
        scheme=raw["scheme"],
        expressions=expressions,
        tolerance_seconds=int(raw.get("tolerance_seconds", 300)),
        hmac=hmac_settings,
        hold_seconds=raw.get("hold_seconds"),
        forward=tuple(forward) if forward is not None else None,
        # A named source's deliveries that name no one are acknowledged; the bridge's own envelope
        # must name its recipient.
        no_recipient=raw.get("no_recipient", REJECT if name == DEFAULT_SOURCE else IGNORE),
        batch=_compile(name, "batch", "body" if batch == "body" else f"body.{batch}") if batch else None,
        volatile=tuple(tuple(path.split(".")) for path in raw.get("volatile", ())),
        pings=dict(raw.get("pings", {})),
        test=_compile(name, "test", test) if test else None,
        deliver_tests=bool(raw.get("deliver_tests", False)),
        compliance=tuple(raw.get("compliance", ())),
        # The bridge's own senders are told "not on a call" with a 404 they can act on; see docs/sources.md.
        no_call=raw.get("no_call", "reject" if name == DEFAULT_SOURCE else "accept"),
        deadline_seconds=raw.get("deadline_seconds"),
        fanout=raw.get("fanout", "latest"),
        require=tuple(raw.get("require", ())),
        unsigned=_unsigned(name, raw["scheme"], hmac_settings, expressions),
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
