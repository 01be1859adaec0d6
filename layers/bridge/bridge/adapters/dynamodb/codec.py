"""One item codec for every table: boto3's TypeSerializer and TypeDeserializer, with floats kept.

DynamoDB numbers arrive as Decimal; epoch seconds and counters go back to float and int here, so
the domain never sees a Decimal and no table hand-writes {"N": ...} attribute values.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    """Attribute values of every field that is not None."""
    return {name: _serializer.serialize(_storable(value)) for name, value in values.items() if value is not None}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _native(_deserializer.deserialize(value)) for name, value in item.items()}


def build[T](cls: type[T], values: Mapping[str, Any]) -> T:
    """A dataclass from an item's values: unknown attributes dropped, numbers typed as declared."""
    fields = {field.name: field for field in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs = {name: _typed(fields[name].type, value) for name, value in values.items() if name in fields}
    return cls(**kwargs)


def _typed(declared: Any, value: Any) -> Any:
    kind = str(declared)
    if value is None or isinstance(value, bool):
        return value
    if kind.startswith("float") and isinstance(value, int | float):
        return float(value)
    if kind.startswith("int") and isinstance(value, int | float):
        return int(value)
    return value


def _storable(value: Any) -> Any:
    if isinstance(value, float):
        # repr keeps every digit a float has; Decimal(float) would add binary noise.
        return Decimal(repr(value))
    if isinstance(value, Mapping):
        return {key: _storable(inner) for key, inner in value.items() if inner is not None}
    if isinstance(value, list | tuple):
        return [_storable(inner) for inner in value]
    return value


def _native(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: _native(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_native(inner) for inner in value]
    return value
