"""A Record behaves as the frozen dataclass it replaces: each case is checked against one."""

from __future__ import annotations

import copy
import dataclasses
import json
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

import pytest

from bridge.domain.records import Record


class Entry(Record, eq=True):
    key: str
    count: int = 0
    tags: tuple[str, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EntryDataclass:
    key: str
    count: int = 0
    tags: tuple[str, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)


class Parked(Record):
    event_id: str
    attempts: int = 0


class Normalised(Record):
    items: tuple[str, ...]

    def __post_init__(self) -> None:
        if isinstance(self.items, list):
            object.__setattr__(self, "items", tuple(self.items))


@pytest.mark.parametrize("kind", [Entry, EntryDataclass])
def test_built_positionally_by_name_and_from_defaults_as_a_dataclass(kind: Any) -> None:
    assert vars(kind("k")) == {"key": "k", "count": 0, "tags": (), "data": {}}
    assert vars(kind("k", 2, ("a",), {"x": 1})) == {"key": "k", "count": 2, "tags": ("a",), "data": {"x": 1}}
    assert vars(kind(count=3, key="k")) == {"key": "k", "count": 3, "tags": (), "data": {}}
    # A default factory makes a new value each time.
    assert kind("a").data is not kind("b").data


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((), {}, "missing 'key'"),
        (("k",), {"key": "again"}, "multiple values for 'key'"),
        (("k", 1, (), {}, "extra"), {}, "takes 4 arguments, 5 given"),
        (("k",), {"colour": "red"}, "unexpected 'colour'"),
    ],
)
def test_wrong_arguments_are_type_errors_as_for_a_dataclass(args: Any, kwargs: Any, message: str) -> None:
    with pytest.raises(TypeError):
        EntryDataclass(*args, **kwargs)
    with pytest.raises(TypeError, match=message):
        Entry(*args, **kwargs)


def test_every_missing_field_is_named() -> None:
    class Three(Record):
        a: str
        b: str
        c: str

    with pytest.raises(TypeError, match="missing 'b', 'c'"):
        Three("a")


def test_read_only_once_built() -> None:
    entry = Entry("k")
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.count = 1  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del entry.count  # type: ignore[misc]
    assert entry.count == 0


def test_equality_and_hash_by_fields_with_eq_and_by_identity_without() -> None:
    assert Entry("k", 1) == Entry("k", 1)
    assert Entry("k", 1) != Entry("k", 2)

    class Key(Record, eq=True):
        name: str
        parts: tuple[str, ...] = ()

    assert hash(Key("k", ("a",))) == hash(Key("k", ("a",)))
    assert len({Key("k"), Key("k"), Key("j")}) == 2
    with pytest.raises(TypeError, match="unhashable"):  # a dict field, as with a dataclass
        hash(Entry("k"))
    # Another class with the same fields is not equal, as with dataclasses.
    assert Entry("k") != EntryDataclass("k")
    parked = Parked("evt")
    assert parked == parked
    assert Parked("evt") != Parked("evt")
    assert len({Parked("evt"), Parked("evt")}) == 2


def test_repr_is_the_dataclass_repr() -> None:
    assert repr(Entry("k", 2, ("a",), {"x": 1})) == repr(EntryDataclass("k", 2, ("a",), {"x": 1})).replace(
        "EntryDataclass", "Entry"
    )


def test_dataclass_functions_work_on_it() -> None:
    entry = Entry("k", 2, ("a",))
    assert dataclasses.is_dataclass(entry)
    assert [spec.name for spec in dataclasses.fields(entry)] == ["key", "count", "tags", "data"]
    assert dataclasses.asdict(entry) == {"key": "k", "count": 2, "tags": ("a",), "data": {}}
    changed = dataclasses.replace(entry, count=3)
    assert (changed.key, changed.count, entry.count) == ("k", 3, 2)
    assert Entry.__match_args__ == ("key", "count", "tags", "data")
    match entry:
        case Entry("k", count):
            assert count == 2
        case _:
            pytest.fail("a Record matches positionally as a dataclass does")


def test_copied_as_a_value() -> None:
    entry = Entry("k", 2, ("a",), {"x": [1]})
    assert copy.deepcopy(entry) == entry
    assert copy.copy(Parked("evt")).event_id == "evt"


def test_post_init_runs_after_the_fields_are_set() -> None:
    assert Normalised(["a", "b"]).items == ("a", "b")  # type: ignore[arg-type]


def test_a_subclass_adds_fields_after_its_base() -> None:
    class Base(Record):
        name: str
        size: int = 1

    class Child(Base):
        colour: str = "red"
        size: int = 5

    child = Child("c")
    assert (child.name, child.size, child.colour) == ("c", 5, "red")
    assert [spec.name for spec in dataclasses.fields(Child)] == ["name", "size", "colour"]


def test_defining_a_record_compiles_no_methods() -> None:
    # The point of Record: dataclass compiles each generated method from source (exec) per class.
    script = """
import builtins, dataclasses, json
compiled = []
real_exec = builtins.exec
dataclasses.exec = lambda *a, **k: (compiled.append(a[0]), real_exec(*a, **k))[1]
from bridge.domain.records import Record
class Thing(Record, eq=True):
    a: int
    b: str = "x"
Thing(1) == Thing(1), hash(Thing(1)), repr(Thing(1))
record = list(compiled)
@dataclasses.dataclass(frozen=True)
class Other:
    a: int
print(json.dumps([record, compiled[len(record):]]))
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env=_env())  # noqa: S603 - our interpreter, our script
    record, dataclass_ = json.loads(run.stdout)
    assert not [source for source in record if "def __" in source.replace("def __create_fn__", "")]
    # The check sees what a dataclass compiles, so it would see a Record doing the same.
    assert any("def __init__" in source for source in dataclass_)


def _env() -> dict[str, str]:
    """This process's environment, with its import path: the child imports what the test did."""
    import os
    import sys

    return {**os.environ, "PYTHONPATH": os.pathsep.join(path for path in sys.path if path)}
