"""Reads template.yaml the way SAM does, for the local stack: functions, routes, environment, tables."""

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
    if tag_suffix == "Ref":
        return {"Ref": value}
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


@dataclass(frozen=True)
class Template:
    document: dict[str, Any]

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
            )
        return found

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


@cache
def load(path: Path = TEMPLATE) -> Template:
    return Template(yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader))  # noqa: S506 - SafeLoader subclass


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
