"""Frozen value classes that cost next to nothing to define.

`@dataclass(frozen=True)` compiles an `__init__`, `__setattr__` and `__delattr__` (and `__eq__`,
`__hash__`, `__repr__`) from source for every class when its module is imported: about 0.5 ms a
class, some 30 ms of the ingest function's cold start for its 38 classes (measured in-process). A `Record`
subclass is still a dataclass (`fields`, `replace` and `asdict` work on it) but its methods are
these shared ones, compiled once with this module. Each construction pays a few microseconds more
than a compiled `__init__` would, which a warm event does not notice.

    class Parked(Record):            # frozen, no __eq__ (identity), as eq=False
        event_id: str
        attempts: int = 0

    class Entry(Record, eq=True):    # __eq__ and __hash__ by fields, as frozen=True
        ...
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, dataclass_transform

_MISSING = dataclasses.MISSING


class _Shape:
    """What the shared methods need of a class, read once from its dataclass fields."""

    __slots__ = ("compared", "defaults", "factories", "name_set", "names", "post_init")

    def __init__(self, cls: type) -> None:
        every = dataclasses.fields(cls)
        specs = [spec for spec in every if spec.init]
        self.names = tuple(spec.name for spec in specs)
        self.name_set = frozenset(self.names)
        self.defaults = {spec.name: spec.default for spec in specs if spec.default is not _MISSING}
        self.factories = {spec.name: spec.default_factory for spec in specs if spec.default_factory is not _MISSING}
        self.post_init = hasattr(cls, "__post_init__")
        self.compared = tuple(spec.name for spec in every if spec.compare)


@dataclass_transform(frozen_default=True, eq_default=False, field_specifiers=(dataclasses.field,))
class Record:
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]
    __record_shape__: ClassVar[_Shape]

    def __init_subclass__(cls, *, eq: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # init/eq/repr off and not frozen: dataclass collects the fields and compiles nothing.
        dataclasses.dataclass(init=False, eq=False, repr=False)(cls)
        cls.__record_shape__ = _Shape(cls)
        if eq:
            cls.__eq__ = _eq  # type: ignore[method-assign,assignment]
            cls.__hash__ = _hash  # type: ignore[method-assign,assignment]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        shape = type(self).__record_shape__
        names = shape.names
        if args:
            if len(args) > len(names):
                raise TypeError(f"{type(self).__name__}() takes {len(names)} arguments, {len(args)} given")
            twice = [name for name in names[: len(args)] if name in kwargs]
            if twice:
                raise TypeError(f"{type(self).__name__}() got multiple values for {twice[0]!r}")
            kwargs.update(zip(names, args, strict=False))
        if kwargs.keys() != shape.name_set:
            self._fill(shape, kwargs)
        # Set as the instance's dict at once: its fields are read-only only to assignment.
        self.__dict__.update(kwargs)
        if shape.post_init:
            self.__post_init__()  # type: ignore[attr-defined]

    def _fill(self, shape: _Shape, values: dict[str, Any]) -> None:
        """Defaults for the fields not given; every missing and unexpected name at once."""
        missing = []
        for name in shape.names:
            if name not in values:
                default = shape.defaults.get(name, _MISSING)
                if default is not _MISSING:
                    values[name] = default
                elif name in shape.factories:
                    values[name] = shape.factories[name]()
                else:
                    missing.append(repr(name))
        if missing or len(values) != len(shape.names):
            wrong = [f"missing {', '.join(missing)}"] if missing else []
            unexpected = sorted(values.keys() - shape.name_set)
            wrong += [f"got unexpected {', '.join(map(repr, unexpected))}"] if unexpected else []
            raise TypeError(f"{type(self).__name__}() {'; '.join(wrong)}")

    def __setattr__(self, name: str, value: Any) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")

    def __repr__(self) -> str:
        shown = ", ".join(f"{spec.name}={getattr(self, spec.name)!r}" for spec in dataclasses.fields(self) if spec.repr)
        return f"{type(self).__qualname__}({shown})"


def _values(record: Record) -> tuple[Any, ...]:
    return tuple([getattr(record, name) for name in record.__record_shape__.compared])


def _eq(self: Record, other: object) -> bool:
    if isinstance(other, Record) and other.__class__ is self.__class__:
        return _values(self) == _values(other)
    return NotImplemented  # type: ignore[no-any-return]  # as dataclass's: the other side decides


def _hash(self: Record) -> int:
    return hash(_values(self))
