"""template.yaml keeps its promises: least privilege, no plaintext secrets, and no drift from the code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bridge.adapters.dynamodb import message_claims
from bridge.settings import (
    CallsSettings,
    CallStatusSettings,
    EnvSettings,
    FlushSettings,
    ForwardSettings,
    IngestSettings,
    MessagesSettings,
    SubscribeSettings,
)
from local import template

TEMPLATE = template.load()
ROOT = Path(__file__).resolve().parents[2]


def policies(logical_id: str) -> list[dict]:  # type: ignore[type-arg]
    """The function's policy documents: inline ones, and the managed policies of this template it
    attaches (under a condition too: `!If [Condition, !Ref Policy, !Ref AWS::NoValue]`)."""
    found = []
    for policy in TEMPLATE.resources[logical_id]["Properties"]["Policies"]:
        if "Fn::If" in policy:
            policy = policy["Fn::If"][1]
        if set(policy) == {"Ref"}:
            policy = TEMPLATE.resources[policy["Ref"]]["Properties"]["PolicyDocument"]
        found.append(policy)
    return found


def statements(logical_id: str) -> list[dict]:  # type: ignore[type-arg]
    found = []
    for policy in policies(logical_id):
        for statement in policy["Statement"]:
            if "Fn::If" in statement:
                statement = statement["Fn::If"][1]
            found.append(statement)
    return found


def test_no_statement_uses_a_wildcard() -> None:
    for function in TEMPLATE.functions():
        for statement in statements(function):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert all("*" not in action for action in actions), statement
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            assert all(resource != "*" for resource in resources), statement


def test_calls_function_cannot_read_secrets_or_idempotency_records() -> None:
    granted = json.dumps(statements("CallsFunction"))
    assert "secretsmanager" not in granted
    assert "IdempotencyTable" not in granted


def test_only_ingest_reads_the_webhook_secret_and_call_status_only_the_twilio_one() -> None:
    assert "WebhookSecretArn" in json.dumps(statements("IngestFunction"))
    granted = json.dumps(statements("CallStatusFunction"))
    assert "TwilioSecretArn" in granted
    assert "WebhookSecretArn" not in granted
    assert "IdempotencyTable" not in granted


def test_no_secret_is_a_plaintext_variable_or_a_noecho_parameter() -> None:
    for name, spec in TEMPLATE.parameters.items():
        assert not spec.get("NoEcho"), name
    for function in TEMPLATE.functions().values():
        for name in function.environment:
            assert not any(word in name for word in ("TOKEN", "PASSWORD", "SECRET_VALUE", "API_KEY")), name


def test_functions_run_python_313_on_arm64_with_explicit_limits() -> None:
    globals_ = TEMPLATE.document["Globals"]["Function"]
    assert globals_["Runtime"] == "python3.13"
    assert globals_["Architectures"] == ["arm64"]
    for function in TEMPLATE.functions().values():
        assert function.timeout > 0
        assert function.memory > 0
        assert (function.code_uri / "app.py").exists()


def test_ingest_environment_names_what_the_settings_read() -> None:
    env = TEMPLATE.functions()["IngestFunction"].environment
    assert {"CALLS_TABLE", "IDEMPOTENCY_TABLE", "TWILIO_SECRET_ID", "WEBHOOK_SECRET_ID", "MAX_CONTENT_BYTES"} <= set(
        env
    )


def test_env_json_covers_every_variable_the_template_resolves_at_deploy_time() -> None:
    # sam local invoke --env-vars needs a local value for every intrinsic in Environment
    local = json.loads((ROOT / "events" / "env.json").read_text())["Parameters"]
    for function in TEMPLATE.functions().values():
        for name, value in function.environment.items():
            if isinstance(value, dict):
                assert name in local, f"{function.logical_id}.{name} has no local value in events/env.json"


def test_routes_are_the_contracts() -> None:
    routes = {route.route_key: (f.logical_id, route.auth) for f in TEMPLATE.functions().values() for route in f.routes}
    assert routes == {
        "POST /events": ("IngestFunction", "NONE"),
        "POST /events/{source}": ("IngestFunction", "NONE"),
        "POST /twilio/call-status": ("CallStatusFunction", "NONE"),
        "PUT /calls/{key}": ("CallsFunction", "AWS_IAM"),
        "GET /calls/{key}": ("CallsFunction", "AWS_IAM"),
        "DELETE /calls/{key}": ("CallsFunction", "AWS_IAM"),
        "POST /twilio/messages": ("MessagesFunction", "NONE"),
    }


def test_tables_have_ttl_and_on_demand_billing() -> None:
    tables = TEMPLATE.tables()
    assert tables["CallsTable"]["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert tables["IdempotencyTable"]["TimeToLiveSpecification"]["AttributeName"] == "expiration"
    assert all(table["BillingMode"] == "PAY_PER_REQUEST" for table in tables.values())


def test_flush_function_reads_only_what_flushing_needs() -> None:
    granted = json.dumps(statements("FlushFunction"))
    assert "WebhookSecretArn" not in granted
    assert "IdempotencyTable" not in granted
    streams = {source.table for source in TEMPLATE.functions()["FlushFunction"].streams}
    assert streams == {"CallsTable", "ParkedTable"}


def test_the_parked_table_reaches_the_flush_function_only_for_ttl_expiries_and_throttled_parks() -> None:
    parked = [s for s in TEMPLATE.functions()["FlushFunction"].streams if s.table == "ParkedTable"]
    assert sorted((source.patterns for source in parked), key=str) == sorted(
        [
            (
                {
                    "eventName": ["REMOVE"],
                    "userIdentity": {"type": ["Service"], "principalId": ["dynamodb.amazonaws.com"]},
                },
            ),
            ({"eventName": ["INSERT"], "dynamodb": {"NewImage": {"cause": {"S": ["throttled"]}}}},),
        ],
        key=str,
    )


# Which settings class each function reads its configuration with (bridge.runtime).
SETTINGS: dict[str, type[EnvSettings]] = {
    "IngestFunction": IngestSettings,
    "FlushFunction": FlushSettings,
    "CallsFunction": CallsSettings,
    "CallStatusFunction": CallStatusSettings,
    "SubscribeFunction": SubscribeSettings,
    "MessagesFunction": MessagesSettings,
    "ForwardFunction": ForwardSettings,
}


def test_every_function_is_given_only_variables_its_settings_read_and_every_required_one() -> None:
    functions = TEMPLATE.functions()
    assert set(functions) == set(SETTINGS)
    for logical_id, function in functions.items():
        # Globals merged with the function's own; Powertools reads its POWERTOOLS_* itself
        given = {name for name in function.environment if not name.startswith("POWERTOOLS_")}
        read, required = SETTINGS[logical_id].env_names(), SETTINGS[logical_id].env_names(required_only=True)
        assert given <= read, f"{logical_id} is given variables it never reads: {sorted(given - read)}"
        assert required <= given, f"{logical_id} lacks required variables: {sorted(required - given)}"


def test_globals_give_every_function_only_powertools_variables() -> None:
    variables = TEMPLATE.document["Globals"]["Function"]["Environment"]["Variables"]
    assert all(name.startswith("POWERTOOLS_") for name in variables), sorted(variables)


def test_every_function_logs_under_its_own_service_name() -> None:
    names = {
        logical_id: TEMPLATE.resources[logical_id]["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
        for logical_id in TEMPLATE.functions()
    }
    assert len(set(names.values())) == len(names), names


def test_secrets_are_decrypted_only_through_secrets_manager_by_the_functions_that_read_them() -> None:
    # The kms:Decrypt statement is written once, in a managed policy that exists only with a key
    managed = {
        logical_id: resource
        for logical_id, resource in TEMPLATE.resources.items()
        if resource["Type"] == "AWS::IAM::ManagedPolicy"
    }
    decrypting = [
        (logical_id, statement)
        for logical_id, resource in managed.items()
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]
        if statement["Action"] == "kms:Decrypt"
    ]
    [(policy, statement)] = decrypting
    assert managed[policy]["Condition"] == "HasSecretsKmsKey"
    assert statement["Resource"] == {"Ref": "SecretsKmsKeyArn"}
    assert statement["Condition"] == {
        "StringEquals": {"kms:ViaService": {"Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com"}}
    }
    # The alarm topic's own key policy (CloudWatch publishing) grants nothing to a function.
    assert "kms:" not in json.dumps(
        [
            resource
            for resource in TEMPLATE.resources.values()
            if resource not in managed.values() and resource["Type"] != "AWS::KMS::Key"
        ]
    )

    # And it is attached, under the same condition, to exactly the functions that read a secret
    for logical_id in TEMPLATE.functions():
        attached = [
            entry
            for entry in TEMPLATE.resources[logical_id]["Properties"]["Policies"]
            if entry == {"Fn::If": ["HasSecretsKmsKey", {"Ref": policy}, {"Ref": "AWS::NoValue"}]}
        ]
        reads_secrets = "secretsmanager:GetSecretValue" in json.dumps(statements(logical_id))
        assert len(attached) == (1 if reads_secrets else 0), logical_id
    assert "kms:Decrypt" not in json.dumps(statements("CallsFunction"))


def test_messages_from_the_call_have_least_privilege() -> None:
    # Ingest still reads one item per event; only the message route reads owner items
    assert "sqs:" not in json.dumps(statements("IngestFunction"))
    assert [s["Action"] for s in statements("MessagesFunction") if "CallsTable" in json.dumps(s)] == [
        "dynamodb:GetItem"
    ]
    # Message Sids are claimed in the idempotency table, and only under their own key prefix
    [claims] = [s for s in statements("MessagesFunction") if "IdempotencyTable" in json.dumps(s)]
    assert sorted(claims["Action"]) == ["dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
    assert claims["Condition"] == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": [message_claims.KEY_PREFIX + "*"]}
    }
    assert "ForwardSecretArn" not in json.dumps(statements("MessagesFunction") + statements("SubscribeFunction"))
    assert "TwilioSecretArn" not in json.dumps(statements("ForwardFunction"))
    [source] = TEMPLATE.functions()["ForwardFunction"].queues
    assert source.queue == "MessagesQueue"
    assert source.report_failures
    redrive = TEMPLATE.resources["MessagesQueue"]["Properties"]["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["MessagesDeadLetterQueue", "Arn"]}


def test_forward_url_is_https_only_in_aws() -> None:
    assert TEMPLATE.parameters["ForwardUrl"]["AllowedPattern"] == "^$|^https://[^\\s]+$"


# -- reading the template as CloudFormation expands it --------------------------------------------


def test_the_loader_reads_every_short_form_in_its_long_form() -> None:
    assert template.parse("""
a: !Ref Thing
b: !GetAtt Queue.Arn
c: !GetAtt [!Sub "${Name}Queue", Arn]
d: {Ref: !Sub "${Name}Function"}
e: !Sub ["/aws/lambda/${F}", {F: {Ref: !Sub "${Name}Function"}}]
f: !FindInMap [Rows, !Ref Name, Limit, {DefaultValue: !Sub "${Name} default"}]
g: !And [!Condition Other, !Not [!Equals [!Ref Param, ""]]]
h: !If [Cond, !Ref A, !Ref AWS::NoValue]
""") == {
        "a": {"Ref": "Thing"},
        "b": {"Fn::GetAtt": ["Queue", "Arn"]},
        "c": {"Fn::GetAtt": [{"Fn::Sub": "${Name}Queue"}, "Arn"]},
        "d": {"Ref": {"Fn::Sub": "${Name}Function"}},
        "e": {"Fn::Sub": ["/aws/lambda/${F}", {"F": {"Ref": {"Fn::Sub": "${Name}Function"}}}]},
        "f": {"Fn::FindInMap": ["Rows", {"Ref": "Name"}, "Limit", {"DefaultValue": {"Fn::Sub": "${Name} default"}}]},
        "g": {"Fn::And": [{"Condition": "Other"}, {"Fn::Not": [{"Fn::Equals": [{"Ref": "Param"}, ""]}]}]},
        "h": {"Fn::If": ["Cond", {"Ref": "A"}, {"Ref": "AWS::NoValue"}]},
    }


LOOPED = """
Transform: [AWS::LanguageExtensions, AWS::Serverless-2016-10-31]
Mappings:
  Limits:
    Slow: {Threshold: 5}
Resources:
  Fn::ForEach::Workers:
    - Name
    - [Fast, Slow]
    - ${Name}Alarm:
        Type: AWS::CloudWatch::Alarm
        Properties:
          AlarmDescription: !Sub "${Name}Function failed"
          Dimensions: [{Name: FunctionName, Value: {Ref: !Sub "${Name}Function"}}]
          Threshold: !FindInMap [Limits, !Ref Name, Threshold, {DefaultValue: 1}]
          Tag: !Ref Name
          Region: !Sub "${AWS::Region}-${Name}"
          LogGroupName: !Sub ["/aws/lambda/${F}", {F: {Ref: !Sub "${Name}Function"}}]
      Fn::ForEach::Levels:
        - Level
        - [high.1, low]
        - ${Name}&{Level}Queue:
            Type: AWS::SQS::Queue
            Properties:
              QueueName: !Sub "${Name}-${Level}"
  Plain:
    Type: AWS::SQS::Queue
"""


def test_expand_writes_out_each_loop_as_cloudformation_would() -> None:
    resources = template.expand(template.parse(LOOPED))["Resources"]
    assert list(resources) == ["FastAlarm", "Fasthigh1Queue", "FastlowQueue", "SlowAlarm", "Slowhigh1Queue",
                               "SlowlowQueue", "Plain"]  # fmt: skip
    assert resources["FastAlarm"]["Properties"] == {
        "AlarmDescription": "FastFunction failed",
        "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": "FastFunction"}}],
        "Threshold": 1,
        "Tag": "Fast",
        "Region": {"Fn::Sub": "${AWS::Region}-Fast"},
        "LogGroupName": {"Fn::Sub": ["/aws/lambda/${F}", {"F": {"Ref": "FastFunction"}}]},
    }
    assert resources["SlowAlarm"]["Properties"]["Threshold"] == 5
    assert resources["Slowhigh1Queue"]["Properties"] == {"QueueName": "Slow-high.1"}


@pytest.mark.parametrize(
    ("resources", "error"),
    [
        ({"Fn::ForEach::Workers": ["Name", {"Ref": "WorkerNames"}, {"${Name}Queue": {}}]}, r"\[string, \.\.\.\]"),
        ({"Fn::ForEach::Workers": ["Name", ["A", "A"], {"${Name}Queue": {}}]}, "makes AQueue twice"),
        ({"Fn::ForEach::Workers": ["Name", ["Plain"], {"${Name}": {}}], "Plain": {}}, "Plain, which is already"),
        ({"Queue": {"Properties": {"Limit": {"Fn::FindInMap": ["Limits", "Fast", "Threshold"]}}}}, "no DefaultValue"),
    ],
)
def test_expand_refuses_what_it_cannot_expand_rather_than_read_it_wrong(resources: dict, error: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError, match=error):
        template.expand({**template.parse(LOOPED), "Resources": resources})


def test_expand_leaves_a_template_without_the_transform_as_it_is() -> None:
    assert template.expand({"Resources": {"Fn::ForEach::Raw": []}}) == {"Resources": {"Fn::ForEach::Raw": []}}


def test_load_gives_the_template_as_deployed_and_keeps_it_as_written() -> None:
    assert any(key.startswith(template.FOR_EACH) for key in TEMPLATE.source["Resources"])
    deployed = json.dumps(TEMPLATE.document)
    assert "Fn::ForEach" not in deployed
    assert "Fn::FindInMap" not in deployed
    assert TEMPLATE.document["Mappings"] == TEMPLATE.source["Mappings"]
