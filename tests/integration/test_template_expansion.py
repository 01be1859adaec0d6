"""local.template.expand against SAM CLI's own AWS::LanguageExtensions expansion, the one `sam build`
and `sam validate` run (samcli.lib.cfn_language_extensions): both make the same resources of
template.yaml's Fn::ForEach loops, and the same alarms. The SAM CLI lives in the tools venv
(`make template-lint` creates it); without it there is nothing to compare with.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from typing import Any

import pytest

from local import template
from local.template import ROOT, TEMPLATE

TOOLS_PYTHON = ROOT / ".tools" / "bin" / "python"

pytestmark = pytest.mark.skipif(not TOOLS_PYTHON.exists(), reason="no .tools venv (make template-lint creates it)")

EXPAND = textwrap.dedent(
    """
    import json, sys
    from samcli.lib.cfn_language_extensions.sam_integration import expand_language_extensions
    from samcli.yamlhelper import yaml_parse

    with open(sys.argv[1], encoding="utf-8") as source:
        document = yaml_parse(source.read())
    result = expand_language_extensions(document, parameter_values={"AWS::Region": "us-east-1"}, enabled=True)
    print(json.dumps(result.expanded_template))
    """
)


def without_actions(properties: dict[str, Any]) -> dict[str, Any]:
    # SAM CLI resolves conditions to the parameters' defaults (CreateAlarmTopic: the stack's topic);
    # CloudFormation leaves that to deploy time, and so does local.template.
    return {key: value for key, value in properties.items() if key not in ("AlarmActions", "OKActions")}


def test_sam_cli_expands_the_template_into_what_local_template_reads() -> None:
    environment = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_EC2_METADATA_DISABLED": "true"}
    expanded = subprocess.run(  # noqa: S603 - our own tools venv and a fixed script
        [TOOLS_PYTHON, "-c", EXPAND, TEMPLATE], capture_output=True, check=True, text=True, timeout=120, env=environment
    )
    sam = json.loads(expanded.stdout)["Resources"]
    ours = template.load().resources
    assert {name: resource["Type"] for name, resource in sam.items()} == {
        name: resource["Type"] for name, resource in ours.items()
    }
    alarms = [name for name, resource in ours.items() if resource["Type"] == "AWS::CloudWatch::Alarm"]
    assert "FlushErrorsAlarm" in alarms, "the loops made the alarms"
    for name in alarms:
        assert without_actions(sam[name]["Properties"]) == without_actions(ours[name]["Properties"]), name
