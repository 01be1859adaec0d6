"""JSON Schema validation with errors by JSON pointer: whole-string patterns and formats, the shipped schemas."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator
from functools import cache, lru_cache
from importlib import resources
from typing import Any

# jsonschema imports every installed format checker when it is imported, and rfc3986_validator
# compiles its URI grammar then: ~14 ms of every cold start (-X importtime), for the few fields that
# are `uri`s. Hidden from that import (None in sys.modules is an ImportError), it is imported at the
# first URI checked instead (_uri below).
if "jsonschema" not in sys.modules and "rfc3986_validator" not in sys.modules:
    sys.modules["rfc3986_validator"] = None  # type: ignore[assignment]
    try:
        import jsonschema  # noqa: F401
    finally:
        del sys.modules["rfc3986_validator"]

from jsonschema import Draft202012Validator, FormatChecker, validators
from jsonschema.exceptions import ValidationError

from bridge.domain.freshness import rfc3339

_SCHEMAS = resources.files("bridge") / "schemas"
_MAX_REPORTED_ERRORS = 20
_MAX_MESSAGE_CHARS = 300


# -- whole-string patterns -------------------------------------------------------------------------
# JSON Schema patterns are ECMA-262, where `$` is the end of the string. Python's `$` also matches
# before a trailing newline, so "crm.customer.identified\n" would pass `^...$`. Schemas keep the
# standard notation; here `$` is compiled as `\Z`.


@lru_cache(maxsize=512)
def _whole(pattern: str) -> re.Pattern[str]:
    out, escaped, in_class = [], False, False
    for char in pattern:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            out.append(char)
            escaped = True
        elif char == "[":
            in_class = True
            out.append(char)
        elif char == "]":
            in_class = False
            out.append(char)
        else:
            out.append("\\Z" if char == "$" and not in_class else char)
    return re.compile("".join(out))


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _whole(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _no_trailing_newline(check: Callable[[object], bool]) -> Callable[[object], bool]:
    # The format checkers (date-time, uri, ...) are `^...$` regexes too.
    def strict(instance: object) -> bool:
        return not (isinstance(instance, str) and instance.endswith("\n")) and check(instance)

    return strict


def _date_time(instance: object) -> bool:
    # Freshness's own parser: a time the schema accepts is one freshness can read, the same way.
    return not isinstance(instance, str) or rfc3339(instance) is not None


def _uri(rule: str) -> Callable[[object], bool]:
    # What jsonschema checks `uri` and `uri-reference` with when rfc3987 is absent, imported on first use.
    def check(instance: object) -> bool:
        from rfc3986_validator import validate_rfc3986  # type: ignore[import-untyped]

        return not isinstance(instance, str) or validate_rfc3986(instance, rule=rule) is not None

    return check


def _strict_formats() -> FormatChecker:
    base = Draft202012Validator.FORMAT_CHECKER
    checker = FormatChecker(formats=())
    for name, (check, raises) in base.checkers.items():
        checker.checks(name, raises)(_no_trailing_newline(check))
    checker.checks("uri")(_no_trailing_newline(_uri("URI")))
    checker.checks("uri-reference", raises=ValueError)(_no_trailing_newline(_uri("URI_reference")))
    checker.checks("date-time")(_date_time)
    return checker


StrictValidator = validators.extend(Draft202012Validator, {"pattern": _pattern})
STRICT_FORMATS = _strict_formats()


def strict_validator(schema: Any, formats: bool = True) -> Draft202012Validator:
    """A Draft 2020-12 validator whose patterns and formats match whole strings only."""
    validator: Draft202012Validator = StrictValidator(schema, format_checker=STRICT_FORMATS if formats else None)
    return validator


def schema_errors(validator: Draft202012Validator, instance: Any, prefix: str = "") -> list[dict[str, str]]:
    """Every violation, each with its JSON pointer (RFC 6901) and message, in document order."""
    found = sorted(validator.iter_errors(instance), key=lambda error: [str(p) for p in error.absolute_path])
    return [_describe(error, prefix) for error in found[:_MAX_REPORTED_ERRORS]]


def _describe(error: ValidationError, prefix: str) -> dict[str, str]:
    pointer = prefix + "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in error.absolute_path)
    message = error.message
    if len(message) > _MAX_MESSAGE_CHARS:
        message = message[: _MAX_MESSAGE_CHARS - 1] + "…"
    return {"pointer": pointer, "message": message}


def _load(path: Any) -> Draft202012Validator:
    # Checked against the metaschema by the unit tests, not here: that check cost every cold
    # start ~20 ms (make bench) for files that only change with a deploy.
    return strict_validator(json.loads(path.read_text(encoding="utf-8")))


@cache
def validator_for(relative: str) -> Draft202012Validator:
    """A schema shipped under schemas/, by its relative path (a profile's `schema`)."""
    return _load(_SCHEMAS / relative)


@cache
def _type_schema_files() -> dict[str, Any]:
    # Listed once, looked up by exact name: a type can never walk out of the folder.
    suffix = ".schema.json"
    folder = _SCHEMAS / "types"
    return {entry.name[: -len(suffix)]: entry for entry in folder.iterdir() if entry.name.endswith(suffix)}


@lru_cache(maxsize=256)
def type_validator(event_type: str) -> Draft202012Validator | None:
    path = _type_schema_files().get(event_type)
    return _load(path) if path is not None else None
