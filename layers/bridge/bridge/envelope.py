"""JSON parsing, JSON Schema validation with errors by JSON pointer, and the size of the Content sent to Twilio."""

from __future__ import annotations

import json
from functools import cache, lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from bridge.errors import ContentTooLarge, MalformedBody

if TYPE_CHECKING:
    from bridge.model import Event

_SCHEMAS = resources.files("bridge") / "schemas"
_MAX_REPORTED_ERRORS = 20
_MAX_MESSAGE_CHARS = 300


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as error:
        raise MalformedBody(f"The body is not valid UTF-8 JSON: {error}") from None


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON; accepting them would send Twilio invalid Content.
    raise ValueError(f"{name} is not valid JSON")


def checked_content(event: Event, max_bytes: int) -> str:
    content = event.content()
    size = len(content.encode("utf-8"))
    if size > max_bytes:
        raise ContentTooLarge(
            f"The message content is {size} bytes; the limit is {max_bytes}.", size=size, limit=max_bytes
        )
    return content


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
    schema = json.loads(path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


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
