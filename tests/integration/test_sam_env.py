"""events/env.json works for `sam local invoke` against the running local stack, as far as this
machine can show without Docker: a separate process given exactly the environment SAM would give
the function (the template's values overridden by env.json) reaches the stack and delivers.

What stands in for Docker is only its network: `host.docker.internal` resolves to this host and
its ports 5005/4010 are the test stack's (a container sees the same with
`--add-host host.docker.internal:127.0.0.1 --docker-network host` on the default ports). The
container image, SAM's runtime interface and Docker's own DNS are not tested here.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from helpers import Bridge, load_event, new_id

from bridge import bootstrap
from bridge.settings import RegistrySettings
from local import template
from local.invoke import ENV_FILE, function_environment
from local.sign import resign_event
from local.template import ROOT

pytestmark = pytest.mark.integration

# A container's view of the host, for this process only: the name resolves to the host, and the
# stack's default ports are wherever the test stack listens.
SITECUSTOMIZE = textwrap.dedent(
    """
    import os, socket
    _ports = dict(pair.split("=") for pair in os.environ.pop("DOCKER_HOST_PORTS").split(","))
    _getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host == "host.docker.internal":
            return _getaddrinfo("127.0.0.1", int(_ports.get(str(port), port)), *args, **kwargs)
        return _getaddrinfo(host, port, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo
    """
)

INVOKE = textwrap.dedent(
    """
    import json, sys
    from local import template
    from local.lambda_runtime import invoke
    event = json.load(sys.stdin)
    response = invoke(template.load().functions()["IngestFunction"], event)
    print("RESPONSE " + json.dumps(response))
    """
)


def test_env_json_reaches_the_running_stack_from_a_process_with_exactly_that_environment(
    bridge: Bridge, tmp_path: Path
) -> None:
    stack = bridge.stack
    overrides = json.loads(ENV_FILE.read_text())
    # Given env.json names the endpoints as a container sees the host
    assert urlsplit(overrides["Parameters"]["AWS_ENDPOINT_URL"]).hostname == "host.docker.internal"
    assert urlsplit(overrides["Parameters"]["TWILIO_API_BASE_URL"]).hostname == "host.docker.internal"

    # And alice on a live call in the running stack, and the sample event re-signed for it
    call = stack.emulator.create_call(stack.credentials.account.account_sid)
    registry = bootstrap.registry(RegistrySettings("CallsTable"), client=stack.client("dynamodb"))
    registry.register("identity:alice", call["sid"], 600)
    sample = load_event("ingest-delivered.json")
    sample["headers"]["webhook-id"] = f"evt_{new_id()}"  # a first delivery, whatever ran before
    event = resign_event(sample, stack.webhook_secrets())

    # When a fresh process runs IngestFunction with SAM's environment and nothing else
    function = template.load().functions()["IngestFunction"]
    env = function_environment(function, overrides)
    env.update(
        {
            # What SAM adds itself: credentials from the profile (moto takes any), the runtime's path.
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": f"{tmp_path}:{ROOT / 'layers/bridge'}:{ROOT}",
            "DOCKER_HOST_PORTS": ",".join(
                f"{default}={urlsplit(actual).port}"
                for default, actual in (
                    (urlsplit(overrides["Parameters"]["AWS_ENDPOINT_URL"]).port, stack.aws_endpoint),
                    (urlsplit(overrides["Parameters"]["TWILIO_API_BASE_URL"]).port, stack.emulator.base_url),
                )
            ),
        }
    )
    (tmp_path / "sitecustomize.py").write_text(SITECUSTOMIZE)
    done = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", INVOKE],
        input=json.dumps(event),
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )

    # Then the event is delivered to alice's call, through the stack's DynamoDB and Twilio
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESPONSE ")]
    assert lines, done.stdout + done.stderr
    response = json.loads(lines[-1].removeprefix("RESPONSE "))
    assert response["statusCode"] == 200, response
    assert json.loads(response["body"])["call_sid"] == call["sid"]
    assert [m["call_sid"] for m in bridge.messages_for(event["headers"]["webhook-id"])] == [call["sid"]]
