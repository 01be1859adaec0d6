"""layers/bridge/bridge/schemas/content.schema.json as a contract: every UDM Content a test sees
must be one the schema describes (the bridge fixture checks each message the emulator received)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator

from bridge.sources.schemas import schema_errors, strict_validator


@cache
def validator() -> Draft202012Validator:
    schema = json.loads((resources.files("bridge") / "schemas" / "content.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return strict_validator(schema)


def content_errors(text: str) -> list[dict[str, str]]:
    """Every way `text` breaks the Content contract (a size over 10 KB included); [] when it keeps it."""
    if len(text.encode("utf-8")) > 10_240:
        return [{"pointer": "", "message": f"{len(text.encode('utf-8'))} bytes, over 10,240"}]
    try:
        document: Any = json.loads(text)
    except ValueError as error:
        return [{"pointer": "", "message": f"not JSON: {error}"}]
    return schema_errors(validator(), document)


def check_content(text: str) -> dict[str, Any]:
    """The parsed Content, after asserting it keeps the contract."""
    errors = content_errors(text)
    assert not errors, f"the Content breaks content.schema.json: {errors}\n{text}"
    parsed: dict[str, Any] = json.loads(text)
    return parsed
