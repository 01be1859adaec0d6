"""Reads template.yaml the way SAM does, for the local stack: functions, routes, environment, tables.

The template uses AWS::LanguageExtensions: `expand` does what that transform does to it (Fn::ForEach
loops, Fn::FindInMap with DefaultValue) before anything reads it, so `load()` gives the resources
CloudFormation deploys. Run as `python -m local.template` it prints that expanded template as JSON.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns CloudFormation short-form tags (!Ref, !Sub, ...) into their long form."""


def _intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    # The two whose long form has no Fn:: prefix; either may take an intrinsic (`Ref: !Sub ...`)
    if tag_suffix in ("Ref", "Condition"):
        return {tag_suffix: value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    auth: str | None

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if method.upper() != self.method and self.method != "ANY":
            return None
        found = re.fullmatch(_path_regex(self.path), path)
        return found.groupdict() if found else None


@dataclass(frozen=True)
class StreamSource:
    """A DynamoDB event source mapping: which table's stream feeds the function, and how."""

    name: str
    table: str
    starting_position: str = "LATEST"
    batch_size: int = 100
    max_retries: int = -1
    patterns: tuple[dict[str, Any], ...] = ()
    # Concurrent batches per shard (ParallelizationFactor); a partition key's records stay in order.
    parallelization: int = 1
    # The logical ID of the OnFailure destination (DestinationConfig), where given up records are described.
    on_failure: str | None = None


@dataclass(frozen=True)
class QueueSource:
    """An SQS event source mapping: which queue feeds the function, and how."""

    name: str
    queue: str
    batch_size: int = 10
    report_failures: bool = False


@dataclass(frozen=True)
class Function:
    logical_id: str
    code_uri: Path
    handler: str
    timeout: int
    memory: int
    environment: dict[str, Any]
    routes: list[Route] = field(default_factory=list)
    streams: list[StreamSource] = field(default_factory=list)
    queues: list[QueueSource] = field(default_factory=list)
    # ReservedConcurrentExecutions: the most invocations at once; None takes from the account's pool.
    reserved_concurrency: int | None = None


@dataclass(frozen=True)
class Template:
    # What CloudFormation deploys: the template with its language extensions expanded (`expand`)
    document: dict[str, Any]
    # The template as written, Fn::ForEach loops and all
    source: dict[str, Any] = field(default_factory=dict)

    @property
    def resources(self) -> dict[str, Any]:
        return dict(self.document.get("Resources", {}))

    @property
    def parameters(self) -> dict[str, Any]:
        return dict(self.document.get("Parameters", {}))

    def functions(self) -> dict[str, Function]:
        globals_ = self.document.get("Globals", {}).get("Function", {})
        found = {}
        for logical_id, resource in self.resources.items():
            if resource.get("Type") != "AWS::Serverless::Function":
                continue
            props = {**globals_, **resource.get("Properties", {})}
            environment = {
                **globals_.get("Environment", {}).get("Variables", {}),
                **resource.get("Properties", {}).get("Environment", {}).get("Variables", {}),
            }
            routes = [
                Route(
                    method=event["Properties"]["Method"].upper(),
                    path=event["Properties"]["Path"],
                    auth=event["Properties"].get("Auth", {}).get("Authorizer"),
                )
                for event in props.get("Events", {}).values()
                if event.get("Type") == "HttpApi"
            ]
            streams = [
                StreamSource(
                    name=name,
                    table=event["Properties"]["Stream"]["Fn::GetAtt"][0],
                    starting_position=event["Properties"].get("StartingPosition", "LATEST"),
                    batch_size=int(event["Properties"].get("BatchSize", 100)),
                    max_retries=int(event["Properties"].get("MaximumRetryAttempts", -1)),
                    patterns=tuple(
                        json.loads(item["Pattern"])
                        for item in event["Properties"].get("FilterCriteria", {}).get("Filters", [])
                    ),
                    on_failure=_destination(event["Properties"]),
                    parallelization=int(event["Properties"].get("ParallelizationFactor", 1)),
                )
                for name, event in props.get("Events", {}).items()
                if event.get("Type") == "DynamoDB"
            ]
            queues = [
                QueueSource(
                    name=name,
                    queue=event["Properties"]["Queue"]["Fn::GetAtt"][0],
                    batch_size=int(event["Properties"].get("BatchSize", 10)),
                    report_failures="ReportBatchItemFailures" in event["Properties"].get("FunctionResponseTypes", []),
                )
                for name, event in props.get("Events", {}).items()
                if event.get("Type") == "SQS"
            ]
            found[logical_id] = Function(
                logical_id=logical_id,
                code_uri=ROOT / props["CodeUri"],
                handler=props["Handler"],
                timeout=int(props.get("Timeout", 3)),
                memory=int(props.get("MemorySize", 128)),
                environment=environment,
                routes=routes,
                streams=streams,
                queues=queues,
                reserved_concurrency=self._number(props.get("ReservedConcurrentExecutions")),
            )
        return found

    def _number(self, value: Any) -> int | None:
        """A number property: as written, or a Ref to a parameter's default (what a deploy without
        overrides gets)."""
        if value is None:
            return None
        if isinstance(value, dict) and set(value) == {"Ref"}:
            name = value["Ref"]
            value = self.parameters.get(name, {}).get("Default")
            if value is None:
                raise ValueError(f"cannot resolve Ref {name} locally: no parameter of that name with a Default")
        return int(value)

    def queues(self) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource.get("Properties", {})
            for logical_id, resource in self.resources.items()
            if resource.get("Type") == "AWS::SQS::Queue"
        }

    def tables(self) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource.get("Properties", {})
            for logical_id, resource in self.resources.items()
            if resource.get("Type") == "AWS::DynamoDB::Table"
        }


def _destination(properties: dict[str, Any]) -> str | None:
    destination = properties.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
    if isinstance(destination, dict) and "Fn::GetAtt" in destination:
        return str(destination["Fn::GetAtt"][0])
    return None


def _path_regex(path: str) -> str:
    pattern = re.escape(path)
    pattern = re.sub(r"\\\{(\w+)\\\+\\\}", r"(?P<\1>.+)", pattern)  # greedy {proxy+}
    return re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", pattern)


def parse(text: str) -> dict[str, Any]:
    """A template as written: short-form tags in their long form, nothing expanded."""
    document: dict[str, Any] = yaml.load(text, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    return document


def read(path: Path = TEMPLATE) -> dict[str, Any]:
    return parse(path.read_text(encoding="utf-8"))


@cache
def load(path: Path = TEMPLATE) -> Template:
    source = read(path)
    return Template(expand(source), source)


# -- AWS::LanguageExtensions, as far as template.yaml uses it -------------------------------------

FOR_EACH = "Fn::ForEach::"


def expand(document: dict[str, Any]) -> dict[str, Any]:
    """What the AWS::LanguageExtensions transform makes of a template, for the shapes it uses here:

    - `Fn::ForEach::<Loop>: [Identifier, [string, ...], {OutputKey: fragment, ...}]`, in any mapping
      (Resources, Conditions, Outputs, or within a fragment): one copy of the fragments per item,
      with `${Identifier}` and `&{Identifier}` (non-alphanumerics dropped) replaced in the output keys
      and in Fn::Sub strings, and `{"Ref": Identifier}` replaced by the item. A Fn::Sub left with no
      variable becomes its string, so `Ref: !Sub "${Name}Function"` names a resource.
    - `Fn::FindInMap` of literal keys, with an optional `{DefaultValue: ...}` for a missing key.

    Anything else (a collection from a parameter, Fn::Length, Fn::ToJsonString) raises ValueError
    rather than be read wrong. A template without the transform comes back as it is.
    """
    transforms = document.get("Transform", [])
    if "AWS::LanguageExtensions" not in ([transforms] if isinstance(transforms, str) else transforms):
        return document
    expanded = _expand_loops(document)
    return {
        section: _find_in_maps(value, document.get("Mappings", {})) if section != "Mappings" else value
        for section, value in expanded.items()
    }


def _expand_loops(node: Any) -> Any:
    if isinstance(node, list):
        return [_expand_loops(item) for item in node]
    if not isinstance(node, dict):
        return node
    expanded: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith(FOR_EACH):
            entries = _for_each(key, value)
        elif key in ("Fn::Length", "Fn::ToJsonString"):
            raise ValueError(f"{key} is not expanded locally; add it to local.template.expand")
        else:
            entries = {key: _expand_loops(value)}
        for name, entry in entries.items():
            if name in expanded:
                raise ValueError(f"{key} makes {name}, which is already in the template")
            expanded[name] = entry
    return expanded


def _for_each(key: str, loop: Any) -> dict[str, Any]:
    match loop:
        case [str(identifier), list(collection), dict(fragments)] if all(isinstance(item, str) for item in collection):
            pass
        case _:
            raise ValueError(f"{key}: expected [Identifier, [string, ...], {{OutputKey: fragment}}], got {loop!r}")
    entries: dict[str, Any] = {}
    for item in collection:
        copy = _expand_loops(_substitute(fragments, identifier, item))
        for name, entry in copy.items():
            if name in entries:
                raise ValueError(f"{key} makes {name} twice")
            entries[name] = entry
    return entries


def _substitute(node: Any, identifier: str, item: str) -> Any:
    if isinstance(node, list):
        return [_substitute(value, identifier, item) for value in node]
    if not isinstance(node, dict):
        return node
    if node == {"Ref": identifier}:
        return item
    sub = node.get("Fn::Sub")
    template, *variables = sub if isinstance(sub, list) else [sub]
    if set(node) == {"Fn::Sub"} and isinstance(template, str):
        template = _placeholders(template, identifier, item)
        if not variables and "${" not in template:
            return template
        variables = [_substitute(value, identifier, item) for value in variables]
        return {"Fn::Sub": [template, *variables] if variables else template}
    return {_placeholders(key, identifier, item): _substitute(value, identifier, item) for key, value in node.items()}


def _placeholders(text: str, identifier: str, item: str) -> str:
    return text.replace(f"${{{identifier}}}", item).replace(f"&{{{identifier}}}", re.sub(r"[^A-Za-z0-9]", "", item))


def _find_in_maps(node: Any, mappings: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_find_in_maps(value, mappings) for value in node]
    if not isinstance(node, dict):
        return node
    node = {key: _find_in_maps(value, mappings) for key, value in node.items()}
    if set(node) != {"Fn::FindInMap"}:
        return node
    match node["Fn::FindInMap"]:
        case [str(name), str(top), str(second)]:
            default: dict[str, Any] = {}
        case [str(name), str(top), str(second), {"DefaultValue": _} as default]:
            pass
        case _:
            return node  # keys CloudFormation resolves at deploy time (a Ref to a parameter)
    found = mappings.get(name, {}).get(top, {})
    if second in found:
        return found[second]
    if default:
        return default["DefaultValue"]
    raise ValueError(f"Fn::FindInMap: {name} has no {top}.{second} and no DefaultValue")


def resolve(value: Any, references: dict[str, str]) -> str:
    """Resolves the intrinsics a local run can know: Refs to parameters and resources."""
    if isinstance(value, str | int | float | bool):
        return str(value).lower() if isinstance(value, bool) else str(value)
    if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in references:
        return references[value["Ref"]]
    if isinstance(value, dict) and set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
        names = re.findall(r"\$\{([^}]+)\}", value["Fn::Sub"])
        if all(name in references for name in names):
            return re.sub(r"\$\{([^}]+)\}", lambda found: references[found[1]], value["Fn::Sub"])
    raise ValueError(f"cannot resolve {value!r} locally; add it to the local references")


if __name__ == "__main__":
    print(json.dumps(load().document, indent=2))
