"""Frozen value classes that cost next to nothing to define.

`@dataclass(frozen=True)` compiles an `__init__`, `__setattr__` and `__delattr__` (and `__eq__`,
`__hash__`, `__repr__`) from source for every class when its module is imported: about 0.5 ms a
class, some 35 ms of the ingest function's cold start for its 38 classes (make bench). A `Record`
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
from collections.abc import Callable
from typing import Any, ClassVar, dataclass_transform

_MISSING = dataclasses.MISSING
_set = object.__setattr__

# One field as __init__ takes it: name, default, default factory.
type _Init = tuple[str, Any, Callable[[], Any] | Any]


@dataclass_transform(frozen_default=True, eq_default=False, field_specifiers=(dataclasses.field,))
class Record:
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]
    __record_init__: ClassVar[tuple[_Init, ...]]

    def __init_subclass__(cls, *, eq: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # init/eq/repr off and not frozen: dataclass collects the fields and compiles nothing.
        dataclasses.dataclass(init=False, eq=False, repr=False)(cls)
        cls.__record_init__ = tuple(
            (spec.name, spec.default, spec.default_factory) for spec in dataclasses.fields(cls) if spec.init
        )
        if eq:
            cls.__eq__ = _eq  # type: ignore[method-assign,assignment]
            cls.__hash__ = _hash  # type: ignore[method-assign,assignment]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        spec = type(self).__record_init__
        if len(args) > len(spec):
            raise TypeError(f"{type(self).__name__}() takes {len(spec)} arguments, {len(args)} given")
        for (name, _, _), value in zip(spec, args, strict=False):
            if name in kwargs:
                raise TypeError(f"{type(self).__name__}() got multiple values for {name!r}")
            _set(self, name, value)
        missing = []
        for name, default, factory in spec[len(args) :]:
            if name in kwargs:
                _set(self, name, kwargs.pop(name))
            elif default is not _MISSING:
                _set(self, name, default)
            elif factory is not _MISSING:
                _set(self, name, factory())
            else:
                missing.append(repr(name))
        if missing or kwargs:
            wrong = [f"missing {', '.join(missing)}"] if missing else []
            wrong += [f"got unexpected {', '.join(map(repr, sorted(kwargs)))}"] if kwargs else []
            raise TypeError(f"{type(self).__name__}() {'; '.join(wrong)}")
        post_init = getattr(self, "__post_init__", None)
        if post_init is not None:
            post_init()

    def __setattr__(self, name: str, value: Any) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")

    def __repr__(self) -> str:
        shown = ", ".join(f"{spec.name}={getattr(self, spec.name)!r}" for spec in dataclasses.fields(self) if spec.repr)
        return f"{type(self).__qualname__}({shown})"


def _values(record: Record) -> tuple[Any, ...]:
    return tuple(getattr(record, spec.name) for spec in dataclasses.fields(record) if spec.compare)


def _eq(self: Record, other: object) -> bool:
    if isinstance(other, Record) and other.__class__ is self.__class__:
        return _values(self) == _values(other)
    return NotImplemented  # type: ignore[no-any-return]  # as dataclass's: the other side decides


def _hash(self: Record) -> int:
    return hash(_values(self))
