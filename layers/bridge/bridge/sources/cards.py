"""Card specs: what each source's events look like to the agent (cards.json), evaluated per event.

cards.json is shipped in the layer beside sources.json; the unit tests hold it to
schemas/cards.schema.json, and the layer compiles it when it loads (a spec that can't compile stops
the function from starting, naming the problem). Per source, cards are keyed by event type or glob
pattern; each text is a template, literal text with `${expression}` placeholders (JMESPath over
`{"body", "data", "type"}`), or a list of them of which the first whose every placeholder finds a
value wins. The named
functions (money, price, date, name, humanize, capitalize, split, json) are domain/cards.py's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from fnmatch import fnmatchcase
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import jmespath
from jmespath import functions
from jmespath.exceptions import JMESPathError

from bridge.domain import cards
from bridge.domain.errors import BridgeError, ConfigurationError
from bridge.domain.events import DEFAULT_SOURCE
from bridge.domain.limits import parse_limited_json
from bridge.domain.records import Record
from bridge.sources.paths import compile_path
from bridge.sources.schemas import schema_errors, strict_validator

if TYPE_CHECKING:
    from bridge.domain.events import Event

_PLACEHOLDER = "${"
_QUOTES = {"'": "'", '"': '"', "`": "`"}


class _Functions(functions.Functions):  # type: ignore[misc]
    """The formatters a card's expressions may call, beside JMESPath's own functions."""

    @functions.signature({"types": ["number", "string", "null"]}, {"types": ["string", "null"]})
    def _func_money(self, amount: Any, currency: Any) -> str | None:
        return cards.money(amount, currency)

    @functions.signature({"types": ["number", "string", "null"]}, {"types": ["string", "null"]})
    def _func_price(self, amount: Any, currency: Any) -> str | None:
        return cards.price(amount, currency)

    @functions.signature({"types": ["number", "string", "null"]})
    def _func_date(self, value: Any) -> str | None:
        return cards.date(value)

    @functions.signature({"types": ["string", "number", "null"], "variadic": True})
    def _func_name(self, *parts: Any) -> str | None:
        return cards.full_name(parts)

    @functions.signature({"types": ["string", "null"]})
    def _func_humanize(self, value: Any) -> str | None:
        return cards.humanize(value)

    @functions.signature({"types": ["string", "null"]})
    def _func_capitalize(self, value: Any) -> str | None:
        return cards.capitalize(value)

    @functions.signature({"types": ["string", "null"]}, {"types": ["string"]})
    def _func_split(self, value: Any, separator: str) -> list[str] | None:
        return value.split(separator) if isinstance(value, str) and separator else None

    @functions.signature({"types": ["string", "null"]})
    def _func_json(self, value: Any) -> Any:
        # Twilio's TaskAttributes: JSON inside a form field. The body passed the input limits, so
        # a string in it is under 1 MiB; its depth is checked here before parsing.
        if not isinstance(value, str):
            return None
        try:
            return parse_limited_json(value.encode("utf-8"))
        except BridgeError:
            return None


_OPTIONS = jmespath.Options(custom_functions=_Functions())


def _search(expression: Any, document: Mapping[str, Any]) -> Any:
    try:
        return expression.search(document, options=_OPTIONS)
    except JMESPathError:
        # join() and friends raise on a missing (null) field: that is "not found", not a crash.
        return None


def _text(value: Any) -> str | None:
    """A placeholder's value as text; nothing for null, empty, objects and lists of them."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, list):
        parts = [_text(item) for item in value if not isinstance(item, list | dict)]
        joined = ", ".join(part for part in parts if part)
        return joined or None
    return None


class Template(Record):
    """Literal text and compiled expressions, rendered all or nothing."""

    parts: tuple[str | Any, ...]  # literal text, or a compiled expression

    def render(self, document: Mapping[str, Any]) -> str | None:
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            value = _text(_search(part, document))
            if value is None:
                return None  # all or nothing: the next alternative may say it better
            out.append(value)
        text = "".join(out).strip()
        return text or None


class Text(Record):
    """Alternatives: the first template that renders."""

    alternatives: tuple[Template, ...]

    def render(self, document: Mapping[str, Any]) -> str | None:
        for template in self.alternatives:
            rendered = template.render(document)
            if rendered is not None:
                return rendered
        return None


class CardSpec(Record):
    """How one type of event becomes a card."""

    title: Text
    summary: Text | None = None
    url: Text | None = None
    fields: tuple[tuple[str, Text], ...] = ()
    data: Any = None  # a compiled expression; None: the profile's data
    drop: tuple[str, ...] = ()

    def card(self, event: Event) -> cards.Card:
        document = {"body": event.body, "data": event.data, "type": event.type}
        data = _search(self.data, document) if self.data is not None else event.data
        shown = ((label, text.render(document)) for label, text in self.fields)
        return cards.Card(
            title=self.title.render(document) or event.type,
            summary=self.summary.render(document) if self.summary else None,
            url=self.url.render(document) if self.url else None,
            fields=tuple((label, value) for label, value in shown if value is not None),
            data=data,
            drop=self.drop,
        )


class SourceCards(Record):
    """One source's card specs: by exact type, then by glob pattern."""

    exact: Mapping[str, CardSpec]
    patterns: tuple[tuple[str, CardSpec], ...]

    def spec_for(self, event_type: str) -> CardSpec | None:
        found = self.exact.get(event_type)
        if found is not None:
            return found
        return next((spec for pattern, spec in self.patterns if fnmatchcase(event_type, pattern)), None)


# Any event without a card of its own: its type as title, the profile's data.
_FALLBACK = CardSpec(title=Text(()))


class Cards(Record):
    """Every source's card specs, and what is redacted from every card."""

    sources: Mapping[str, SourceCards]
    redaction: cards.Redaction

    def spec_for(self, source: str, event_type: str) -> CardSpec | None:
        found = self.sources.get(source)
        return found.spec_for(event_type) if found is not None else None

    def content(self, event: Event, max_bytes: int) -> cards.Content:
        """The event's Content. A named source's card is fitted into `max_bytes`; the bridge's own
        envelope is its sender's to keep small, so it stays a 413 (ContentTooLarge) when over."""
        spec = self.spec_for(event.source, event.type) or _FALLBACK
        envelope: dict[str, Any] = {"id": event.id, "type": event.type}
        if event.named_source is not None:
            envelope["source"] = event.named_source
        if event.timestamp is not None:
            envelope["timestamp"] = event.timestamp
        return cards.content(envelope, spec.card(event), self.redaction, max_bytes, fit=event.source != DEFAULT_SOURCE)


def content_for(event: Event, max_bytes: int) -> cards.Content:
    """The one call ingest makes: the Content for `event`, redacted and within `max_bytes`."""
    return load_cards().content(event, max_bytes)


# -- parsing cards.json -----------------------------------------------------------------------------


def _template(where: str, text: str) -> Template:
    parts: list[str | Any] = []
    position = 0
    while True:
        start = text.find(_PLACEHOLDER, position)
        if start < 0:
            if position < len(text):
                parts.append(text[position:])
            return Template(tuple(parts))
        if start > position:
            parts.append(text[position:start])
        end = _closing_brace(text, start + len(_PLACEHOLDER))
        if end < 0:
            raise ConfigurationError(f"cards.json: {where} has a ${{ without its closing }}: {text!r}")
        expression = text[start + len(_PLACEHOLDER) : end]
        try:
            parts.append(compile_path(expression))
        except JMESPathError as error:
            raise ConfigurationError(f"cards.json: {where} holds invalid JMESPath {expression!r}: {error}") from None
        position = end + 1


def _closing_brace(text: str, start: int) -> int:
    """Where the placeholder opened before `start` closes: braces counted, quoted text skipped."""
    depth, index = 0, start
    while index < len(text):
        char = text[index]
        if char in _QUOTES:
            index = text.find(_QUOTES[char], index + 1)
            if index < 0:
                return -1
        elif char == "{":
            depth += 1
        elif char == "}":
            if depth == 0:
                return index
            depth -= 1
        index += 1
    return -1


def _text_spec(where: str, raw: str | list[str]) -> Text:
    alternatives = [raw] if isinstance(raw, str) else raw
    return Text(tuple(_template(where, text) for text in alternatives))


def _card_spec(where: str, raw: Mapping[str, Any]) -> CardSpec:
    data = None
    if "data" in raw:
        try:
            data = compile_path(raw["data"])
        except JMESPathError as error:
            raise ConfigurationError(f"cards.json: {where}.data is not valid JMESPath: {error}") from None
    return CardSpec(
        title=_text_spec(f"{where}.title", raw["title"]),
        summary=_text_spec(f"{where}.summary", raw["summary"]) if "summary" in raw else None,
        url=_text_spec(f"{where}.url", raw["url"]) if "url" in raw else None,
        fields=tuple(
            (field["label"], _text_spec(f"{where}.fields[{index}]", field["value"]))
            for index, field in enumerate(raw.get("fields", ()))
        ),
        data=data,
        drop=tuple(raw.get("drop", ())),
    )


def _redaction(raw: Mapping[str, Any]) -> cards.Redaction:
    patterns = []
    for name, pattern in raw.get("patterns", {}).items():
        try:
            patterns.append(re.compile(pattern))
        except re.error as error:
            raise ConfigurationError(f"cards.json: redact.patterns.{name} is not a valid expression: {error}") from None
    return cards.Redaction(keys=frozenset(raw["keys"]), patterns=tuple(patterns))


def _source_cards(source: str, by_type: Mapping[str, Any]) -> SourceCards:
    specs = {key: _card_spec(f"{source}.{key}", raw) for key, raw in by_type.items()}
    exact = {key: spec for key, spec in specs.items() if not any(char in key for char in "*?[")}
    patterns = tuple((key, spec) for key, spec in specs.items() if key not in exact)
    return SourceCards(exact, patterns)


class _CompiledOnUse(Mapping[str, SourceCards]):
    """Each source's cards, compiled when first looked up. Threads racing on a source compile it
    twice, to equal specs: no lock needed."""

    def __init__(self, raw: Mapping[str, Mapping[str, Any]]) -> None:
        self._raw = raw
        self._compiled: dict[str, SourceCards] = {}

    def __getitem__(self, source: str) -> SourceCards:
        found = self._compiled.get(source)
        if found is None:
            found = self._compiled[source] = _source_cards(source, self._raw[source])
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)


def parse_cards(document: Any, *, validate: bool = True, on_use: bool = False) -> Cards:
    """Card specs from a cards.json document, checked against its schema unless `validate` is off;
    each source's compiled now, or on its first lookup with `on_use`."""
    errors = schema_errors(strict_validator(_cards_schema(), formats=False), document) if validate else []
    if errors:
        listed = "; ".join(f"{error['pointer'] or '/'}: {error['message']}" for error in errors)
        raise ConfigurationError(f"cards.json is invalid: {listed}")
    raw: Mapping[str, Mapping[str, Any]] = document["sources"]
    sources = _CompiledOnUse(raw) if on_use else {name: _source_cards(name, by_type) for name, by_type in raw.items()}
    return Cards(sources, _redaction(document["redact"]))


def _cards_schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((resources.files("bridge") / "schemas" / "cards.schema.json").read_text())
    return loaded


@cache
def load_cards() -> Cards:
    """The shipped card specs, parsed once per container. The schema check and the compiling of every
    shipped spec are the unit tests' (test_cards); here the check cost every cold start ~18 ms and
    compiling every source's ~14 ms (make bench), so each source's specs compile at its first event."""
    document = json.loads((resources.files("bridge.sources") / "cards.json").read_text(encoding="utf-8"))
    return parse_cards(document, validate=False, on_use=True)
