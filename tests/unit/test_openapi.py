"""openapi.yaml: valid OpenAPI 3.1, every template route in it and nothing else, its copies in step."""

from __future__ import annotations

import json
from importlib import resources

from openapi_contract import document
from openapi_spec_validator import validate
from openapi_spec_validator.versions import consts, get_spec_version

from bridge.domain import errors
from local.template import load


def test_openapi_yaml_is_a_valid_openapi_3_1_document() -> None:
    assert get_spec_version(document()) == consts.OPENAPIV31
    validate(document())  # raises on the first violation of the OpenAPI 3.1 schema


def test_every_route_of_the_template_is_in_openapi_yaml_and_nothing_else() -> None:
    routes = {route.route_key for function in load().functions().values() for route in function.routes}
    described = {
        f"{method.upper()} {path}"
        for path, item in document()["paths"].items()
        for method in item
        if method in ("get", "put", "post", "delete", "patch", "head", "options", "trace")
    }
    assert described == routes


def test_the_envelope_in_openapi_yaml_is_the_one_the_bridge_validates_with() -> None:
    shipped = json.loads((resources.files("bridge") / "schemas" / "envelope.schema.json").read_text())
    for annotation in ("$schema", "$id", "title", "description"):
        shipped.pop(annotation)
    described = json.loads(json.dumps(document()["components"]["schemas"]["Envelope"]))
    for schema in (shipped, described):
        for field in schema["properties"].values():
            field.pop("description", None)
    assert described == shipped


def test_every_problem_code_the_bridge_can_send_is_in_openapi_yaml() -> None:
    def subclasses(cls: type) -> list[type]:
        return [cls, *(sub for direct in cls.__subclasses__() for sub in subclasses(direct))]

    codes = {cls.code for cls in subclasses(errors.BridgeError)}
    assert codes <= set(document()["components"]["schemas"]["Problem"]["properties"]["code"]["enum"])
