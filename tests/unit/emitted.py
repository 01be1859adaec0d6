"""The metric names the code emits, read from the code itself (its syntax tree), not from a list.

A name counts as emitted when it reaches a metric call: `record`, `record_outcome`,
`record_latency` (first argument), `add_metric` (`name=`), or Powertools' ColdStart through
`log_metrics(capture_cold_start_metric=True)`. What reaches the call is followed one step: a
string literal, a module or class constant, either branch of `a if c else b`, an attribute
(`error.outcome`, `accepted.status`: every string assigned to a field of that name, as a class
attribute, a variable, a keyword or a dict key), or a parameter (every value callers pass for it).
Also the `reason` dimension: the `code` of each error class, by its `outcome`.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [*sorted((ROOT / "layers/bridge/bridge").rglob("*.py")), *sorted((ROOT / "functions").glob("*/app.py"))]
_FIRST_ARGUMENT = {"record", "record_outcome", "record_latency"}


def _name(call: ast.Call) -> str:
    return call.func.id if isinstance(call.func, ast.Name) else getattr(call.func, "attr", "")


class _Code:
    def __init__(self) -> None:
        self.trees = [ast.parse(path.read_text(encoding="utf-8")) for path in SOURCES]
        self.constants: dict[str, set[str]] = defaultdict(set)  # NAME = "value", module or class level
        self.fields: dict[str, set[ast.expr]] = defaultdict(set)  # field name -> expressions assigned to it
        self.functions: dict[str, list[ast.FunctionDef]] = defaultdict(list)
        self.parents: dict[ast.AST, ast.AST] = {}
        for tree in self.trees:
            for node in ast.walk(tree):
                for child in ast.iter_child_nodes(node):
                    self.parents[child] = node
                self._index(node)

    def _index(self, node: ast.AST) -> None:
        if isinstance(node, ast.FunctionDef):
            self.functions[node.name].append(node)
        elif isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                name = target.id if isinstance(target, ast.Name) else getattr(target, "attr", None)
                if name:
                    self.fields[name].add(node.value)
                    if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                        self.constants[name].add(node.value.value)
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    self.fields[key.value].add(value)
        elif isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg:
                    self.fields[keyword.arg].add(keyword.value)

    def strings(self, node: ast.AST | None, depth: int = 0) -> set[str]:
        if node is None or depth > 3:
            return set()
        if isinstance(node, ast.Constant):
            return {node.value} if isinstance(node.value, str) else set()
        if isinstance(node, ast.IfExp):
            return self.strings(node.body, depth) | self.strings(node.orelse, depth)
        if isinstance(node, ast.Attribute):
            return set().union(*(self.strings(value, depth + 1) for value in self.fields.get(node.attr, ())))
        if isinstance(node, ast.Name):
            return self.constants.get(node.id, set()) | self._parameter(node, depth)
        return set()

    def _parameter(self, node: ast.Name, depth: int) -> set[str]:
        """The values callers pass for `node` when it is a parameter of the function it is used in."""
        function = self.parents.get(node)
        while function is not None and not isinstance(function, ast.FunctionDef):
            function = self.parents.get(function)
        if function is None or function.name in _FIRST_ARGUMENT:
            return set()
        names = [argument.arg for argument in function.args.args]
        if node.id not in names:
            return set()
        index = names.index(node.id) - (1 if names and names[0] == "self" else 0)
        found: set[str] = set()
        for tree in self.trees:
            for call in ast.walk(tree):
                if isinstance(call, ast.Call) and _name(call) == function.name:
                    if 0 <= index < len(call.args):
                        found |= self.strings(call.args[index], depth + 1)
                    found |= {v for k in call.keywords if k.arg == node.id for v in self.strings(k.value, depth + 1)}
        return found


@cache
def emitted_metrics() -> frozenset[str]:
    code = _Code()
    found: set[str] = set()
    for tree in code.trees:
        for call in ast.walk(tree):
            if not isinstance(call, ast.Call):
                continue
            name = _name(call)
            if name in _FIRST_ARGUMENT and call.args:
                found |= code.strings(call.args[0])
            elif name == "add_metric":
                found |= {v for k in call.keywords if k.arg == "name" for v in code.strings(k.value)}
            elif name == "log_metrics" and any(
                k.arg == "capture_cold_start_metric" and getattr(k.value, "value", False) for k in call.keywords
            ):
                found.add("ColdStart")
    return frozenset(found)


@cache
def reasons_by_outcome() -> dict[str, frozenset[str]]:
    """`reason` dimension values per metric: each error class's `code`, under its `outcome`."""
    from bridge import errors

    found: dict[str, set[str]] = defaultdict(set)
    for value in vars(errors).values():
        if isinstance(value, type) and issubclass(value, errors.BridgeError):
            found[value.outcome].add(value.code)
    return {outcome: frozenset(codes) for outcome, codes in found.items()}
