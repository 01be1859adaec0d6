"""template.yaml's operations: the alarm topic, the alarms, the dashboard, the stream OnFailure
destinations and the security scan's skips. Every custom metric watched is one the code emits.

Most alarms are generated (Fn::ForEach): these tests read them as CloudFormation deploys them
(local.template.expand), and read the loops as written only to check what generates them."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from bridge.domain import errors
from bridge.domain.outcomes import Outcome
from bridge.entrypoints.outcomes import OUTCOMES
from bridge.observability import RETRIES, Latency
from local import template

TEMPLATE = template.load()
RESOURCES = TEMPLATE.resources
SOURCE = TEMPLATE.source
RAW = template.TEMPLATE.read_text(encoding="utf-8")
NAMESPACE = TEMPLATE.document["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
TOPIC = {"Fn::If": ["CreateAlarmTopic", {"Ref": "AlarmTopic"}, {"Ref": "AlarmTopicArn"}]}
FUNCTIONS = sorted(TEMPLATE.functions())


def emitted_metrics() -> frozenset[str]:
    """Every metric the code can emit: one per outcome, the latencies, the retries, and Powertools'
    ColdStart where a handler asks for it."""
    handlers = (template.ROOT / "functions").glob("*/app.py")
    cold = any("capture_cold_start_metric=True" in path.read_text(encoding="utf-8") for path in handlers)
    return frozenset({*Outcome, *Latency, RETRIES, *(["ColdStart"] if cold else [])})


def reasons_by_outcome() -> dict[str, frozenset[str]]:
    """`reason` dimension values per metric: each error class's `code`, under its `outcome`."""
    found: dict[str, set[str]] = {}
    for value in vars(errors).values():
        if isinstance(value, type) and issubclass(value, errors.BridgeError):
            found.setdefault(value.outcome, set()).add(value.code)
    return {outcome: frozenset(codes) for outcome, codes in found.items()}


def test_every_outcome_has_its_line_in_the_one_table() -> None:
    assert set(OUTCOMES) == set(Outcome)


def of_type(kind: str) -> dict[str, dict[str, Any]]:
    return {name: resource for name, resource in RESOURCES.items() if resource["Type"] == kind}


ALARMS = {name: resource["Properties"] for name, resource in of_type("AWS::CloudWatch::Alarm").items()}


def alarm_on(namespace: str, metric: str, **dimensions: Any) -> list[str]:
    return [
        name
        for name, alarm in ALARMS.items()
        if alarm.get("Namespace") == namespace
        and alarm.get("MetricName") == metric
        and all({"Name": k, "Value": v} in alarm.get("Dimensions", []) for k, v in dimensions.items())
    ]


def loop(name: str) -> tuple[str, list[str], dict[str, Any]]:
    """A Fn::ForEach loop of Resources as written: identifier, collection, fragments."""
    identifier, collection, fragments = SOURCE["Resources"][f"{template.FOR_EACH}{name}"]
    return identifier, collection, fragments


def insights(name: str) -> str:
    (query,) = [m["Expression"] for m in ALARMS[name]["Metrics"] if m.get("ReturnData")]
    return str(query)


def dashboard() -> dict[str, Any]:
    body = RESOURCES["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    return dict(json.loads(body))


# -- what the alarms and the dashboard watch ----------------------------------------------------


def watched_custom_metrics() -> dict[str, set[str]]:
    """metric name -> the `reason` values it is filtered on (empty: all of them)."""
    watched: dict[str, set[str]] = {}
    for alarm in ALARMS.values():
        for query in (m.get("Expression", "") for m in alarm.get("Metrics", [])):
            found = re.fullmatch(r"SELECT SUM\((\w+)\) FROM (\w+)(?: WHERE reason = '(\w+)')?", query)
            assert found, query
            assert found[2] == NAMESPACE
            watched.setdefault(found[1], set()).update({found[3]} if found[3] else set())
    for widget in dashboard()["widgets"]:
        for metric in widget["properties"]["metrics"]:
            expression = metric.get("expression", "") if isinstance(metric, dict) else ""
            for search in re.findall(r"SEARCH\('([^']*)'", expression):
                assert NAMESPACE in search, search
                (name,) = re.findall(r'MetricName="(\w+)"', search)
                watched.setdefault(name, set())
    return watched


def test_every_watched_custom_metric_is_emitted_by_the_code() -> None:
    watched = watched_custom_metrics()
    assert watched, "the alarms and the dashboard watch the bridge's own metrics"
    assert set(watched) <= emitted_metrics(), set(watched) - emitted_metrics()
    for metric, reasons in watched.items():
        assert reasons <= reasons_by_outcome().get(metric, frozenset()), (metric, reasons)


def test_the_emitted_set_comes_from_the_code() -> None:
    # What docs/operations.md's Observability section lists, found in the code rather than copied from it.
    assert {"delivered", "parked", "rejected", "no_active_call", "twilio_error", "unavailable", "error"} <= (
        emitted_metrics()
    )
    assert {"flushed", "expired", "call_ended", "twilio_refused", "stale_mapping_removed"} <= emitted_metrics()
    assert {"registered", "unregistered", "ignored", "looked_up", "delivery_latency", "retries"} <= emitted_metrics()
    assert "ColdStart" in emitted_metrics()
    assert "configuration_error" in reasons_by_outcome()["error"]


# -- the topic ----------------------------------------------------------------------------------


def test_the_stack_creates_an_encrypted_topic_unless_given_one() -> None:
    topic = RESOURCES["AlarmTopic"]
    assert topic["Condition"] == "CreateAlarmTopic"
    assert topic["Properties"]["KmsMasterKeyId"] == {"Ref": "AlarmTopicKey"}
    key = RESOURCES["AlarmTopicKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    publishers = [s for s in key["KeyPolicy"]["Statement"] if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
    assert publishers, "CloudWatch must be able to use the topic's key"
    assert TEMPLATE.document["Conditions"]["CreateAlarmTopic"] == {"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}


def test_an_alarm_email_subscribes_only_when_given() -> None:
    subscription = RESOURCES["AlarmEmailSubscription"]
    assert subscription["Condition"] == "SubscribeAlarmEmail"
    assert subscription["Properties"] == {
        "TopicArn": {"Ref": "AlarmTopic"},
        "Protocol": "email",
        "Endpoint": {"Ref": "AlarmEmail"},
    }
    assert TEMPLATE.parameters["AlarmEmail"]["Default"] == ""


def test_every_alarm_notifies_the_topic_and_treats_silence_as_fine() -> None:
    assert len(ALARMS) >= 17
    for name, alarm in ALARMS.items():
        assert alarm["AlarmActions"] == [TOPIC], name
        assert alarm["OKActions"] == [TOPIC], name
        assert alarm["TreatMissingData"] == "notBreaching", name


def commented(text: str, key: str, indent: str) -> bool:
    before, found, _ = text.partition(f"\n{indent}{key}:\n")
    assert found, key
    return before.rstrip().splitlines()[-1].strip().startswith("#")


def test_every_alarm_threshold_has_its_reason_in_a_comment() -> None:
    # An alarm written out says why above it; a loop says why for the defaults it gives, and each
    # mapping row that sets one alarm's threshold or text says why for that one.
    loops = [name for name in SOURCE["Resources"] if name.startswith(template.FOR_EACH)]
    written = [name for name in SOURCE["Resources"] if name not in loops and name in ALARMS]
    assert set(written) < set(ALARMS), "the rest come from the loops"
    for name in written + loops:
        assert commented(RAW, name, "  "), f"{name} needs a comment saying why its threshold"
    mappings = re.split(r"\n(?=[A-Z]\w*:\n)", RAW.partition("\nMappings:\n")[2])[0]
    for mapping, rows in SOURCE["Mappings"].items():
        for row in rows:
            assert commented(mappings, row, "    "), f"{mapping}.{row} needs a comment saying why"


# -- the alarms ---------------------------------------------------------------------------------


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_each_function_has_errors_and_throttles_alarms(function: str, metric: str) -> None:
    assert alarm_on("AWS/Lambda", metric, FunctionName={"Ref": function}), (function, metric)


def test_every_function_is_in_the_loop_that_gives_it_a_log_group_and_its_alarms() -> None:
    # One list in template.yaml; a function missing from it would run unwatched, logging forever
    _, names, _ = loop("Functions")
    assert sorted(f"{name}Function" for name in names) == FUNCTIONS
    for function in FUNCTIONS:
        short = function.removesuffix("Function")
        logs = RESOURCES[f"{function}Logs"]
        assert logs["Type"] == "AWS::Logs::LogGroup"
        assert logs["Properties"] == {
            "LogGroupName": {"Fn::Sub": ["/aws/lambda/${FunctionName}", {"FunctionName": {"Ref": function}}]},
            "RetentionInDays": {"Ref": "LogRetentionDays"},
        }
        for metric in ("Errors", "Throttles"):
            alarm = ALARMS[f"{short}{metric}Alarm"]
            assert alarm["MetricName"] == metric
            assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": function}}]
            assert alarm["AlarmDescription"].startswith(f"{function} "), alarm["AlarmDescription"]
    # FlushFunction's whole-batch failures are the one exception to Errors >= 1 (FunctionAlarms)
    assert {name: ALARMS[f"{name}ErrorsAlarm"]["Threshold"] for name in names if name != "Flush"} == dict.fromkeys(
        set(names) - {"Flush"}, 1
    )
    assert ALARMS["FlushErrorsAlarm"]["Threshold"] == 5


def test_every_mapping_row_and_key_is_one_a_loop_reads() -> None:
    # A misspelt row or key would quietly leave an alarm at its default.
    read: dict[str, set[str]] = {}

    def find(node: Any) -> None:
        if isinstance(node, dict):
            if "Fn::FindInMap" in node:
                mapping, _, key, *_ = node["Fn::FindInMap"]
                read.setdefault(mapping, set()).add(key)
            for value in node.values():
                find(value)
        elif isinstance(node, list):
            for value in node:
                find(value)

    find(SOURCE["Resources"])
    for mapping, rows in SOURCE["Mappings"].items():
        for row, keys in rows.items():
            assert set(keys) <= read.get(mapping, set()), (mapping, row, set(keys) - read.get(mapping, set()))
    assert set(SOURCE["Mappings"]["FunctionAlarms"]) <= set(loop("Functions")[1])
    assert sorted(SOURCE["Mappings"]["OutcomeAlarms"]) == sorted(loop("Outcomes")[1])


def test_api_5xx_iterator_age_and_the_failure_queue_are_watched() -> None:
    assert alarm_on("AWS/ApiGateway", "5xx", ApiId={"Ref": "BridgeApi"}, Stage="$default")
    streams = [f for f in TEMPLATE.functions().values() if f.streams]
    for function in streams:
        assert alarm_on("AWS/Lambda", "IteratorAge", FunctionName={"Ref": function.logical_id})
    queue = {"Fn::GetAtt": ["StreamFailuresQueue", "QueueName"]}
    assert alarm_on("AWS/SQS", "ApproximateNumberOfMessagesVisible", QueueName=queue)


@pytest.mark.parametrize(
    ("metric", "reason"),
    [
        ("twilio_error", None),
        ("unavailable", None),
        ("expired", None),
        ("stale", None),
        ("twilio_refused", None),
        ("rejected", "invalid_signature"),
        ("error", "configuration_error"),
    ],
)
def test_the_bridges_own_metrics_have_alarms(metric: str, reason: str | None) -> None:
    query = f"SELECT SUM({metric}) FROM {NAMESPACE}" + (f" WHERE reason = '{reason}'" if reason else "")  # noqa: S608
    assert [name for name in ALARMS if "Metrics" in ALARMS[name] and insights(name) == query], query


# -- the dashboard ------------------------------------------------------------------------------


def test_the_dashboard_shows_what_an_operator_asks_first() -> None:
    widgets = dashboard()["widgets"]
    shown = json.dumps(widgets)
    titles = " | ".join(w["properties"]["title"] for w in widgets)
    for words in ("outcome", "latency", "Twilio errors by code", "Parked", "Registry"):
        assert words in titles, words
    assert "'p50'" in shown
    assert "'p99'" in shown
    assert "twilio_code" in shown
    for metric in ("parked", "flushed", "expired", "registered", "unregistered"):
        assert f'MetricName=\\"{metric}\\"' in shown, metric
    for function in FUNCTIONS:
        per_function = [w for w in widgets if w["properties"]["title"].startswith(f"{function}:")]
        assert per_function, function
        text = json.dumps(per_function)
        for metric in ("Errors", "Duration", "Throttles", "ColdStart"):
            assert metric in text, (function, metric)


# -- nothing dropped ----------------------------------------------------------------------------


def test_every_stream_source_sends_what_fails_to_an_encrypted_queue() -> None:
    sources = [
        event["Properties"]
        for function in RESOURCES.values()
        if function["Type"] == "AWS::Serverless::Function"
        for event in function["Properties"].get("Events", {}).values()
        if event["Type"] == "DynamoDB"
    ]
    # FlushFunction's three (registrations, TTL expiries, throttled parks) and SubscribeFunction's registrations
    assert len(sources) == 4
    for source in sources:
        assert source["DestinationConfig"]["OnFailure"] == {
            "Type": "SQS",
            "Destination": {"Fn::GetAtt": ["StreamFailuresQueue", "Arn"]},
        }
    assert RESOURCES["StreamFailuresQueue"]["Properties"]["SqsManagedSseEnabled"] is True


# -- the security scan's decisions --------------------------------------------------------------


def test_tables_whose_data_matters_have_point_in_time_recovery() -> None:
    for table in ("ParkedTable", "LedgerTable"):
        pitr = RESOURCES[table]["Properties"]["PointInTimeRecoverySpecification"]
        assert pitr == {"PointInTimeRecoveryEnabled": True}, table


def test_ingest_concurrency_is_a_parameter() -> None:
    ingest = RESOURCES["IngestFunction"]["Properties"]
    assert ingest["ReservedConcurrentExecutions"] == {"Ref": "IngestReservedConcurrency"}
    assert TEMPLATE.parameters["IngestReservedConcurrency"]["MinValue"] >= 1


def test_every_checkov_skip_gives_its_reason() -> None:
    skips = [
        (name, skip)
        for name, resource in RESOURCES.items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skips
    for name, skip in skips:
        assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), (name, skip)
        assert len(skip.get("comment", "")) > 20, (name, skip)
