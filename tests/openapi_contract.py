"""openapi.yaml as a contract: every response a test receives must be one the document describes.

jsonschema over the document's own components (Draft 2020-12, as OpenAPI 3.1 is): the operation by
the template's route key, the response by status, the body by media type, each declared header.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

OPENAPI = Path(__file__).resolve().parent.parent / "openapi.yaml"


@cache
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(OPENAPI.read_text(encoding="utf-8"))
    return loaded


def _pointer(*parts: str) -> str:
    return "#/" + "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


def _resolve(node: dict[str, Any], pointer: str) -> tuple[dict[str, Any], str]:
    """Follows $ref chains of OpenAPI objects, keeping the pointer a schema inside them is found at."""
    while "$ref" in node:
        pointer = node["$ref"]
        node = document()
        for part in pointer.removeprefix("#/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
    return node, pointer


def _check(pointer: str, instance: Any, what: str) -> None:
    validator = Draft202012Validator(
        {**document(), "$ref": pointer}, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    errors = [
        f"{'/'.join(map(str, error.absolute_path)) or '/'}: {error.message}"
        for error in validator.iter_errors(instance)
    ]
    assert not errors, f"{what} does not conform to openapi.yaml: {errors}"


def check_response(route_key: str, status: int, headers: dict[str, str], body: bytes) -> None:
    """Fails the test when the response is not one openapi.yaml describes for this route."""
    method, path = route_key.split(" ", 1)
    operation = document()["paths"].get(path, {}).get(method.lower())
    assert operation is not None, f"{route_key} is not in openapi.yaml"
    responses = operation["responses"]
    assert str(status) in responses, f"{route_key} answered {status}, which openapi.yaml does not list"
    response, pointer = _resolve(
        responses[str(status)], _pointer("paths", path, method.lower(), "responses", str(status))
    )
    lowered = {name.lower(): value for name, value in headers.items()}
    for name, header in response.get("headers", {}).items():
        if name.lower() in lowered:
            header, header_pointer = _resolve(header, f"{pointer}/headers/{name}")
            _check(f"{header_pointer}/schema", lowered[name.lower()], f"{route_key} {status} header {name}")
    content = response.get("content")
    if not content:
        assert not body, f"{route_key} {status} has a body where openapi.yaml describes none"
        return
    media_type = lowered.get("content-type", "").split(";", 1)[0].strip()
    assert media_type in content, f"{route_key} {status} is {media_type!r}, not one of {sorted(content)}"
    _check(f"{pointer}/content/{media_type.replace('/', '~1')}/schema", json.loads(body), f"{route_key} {status} body")
