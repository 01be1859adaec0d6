"""`python -m local.sign FILE` prints a curl line to paste: what it sends must be what was signed."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from helpers import Bridge, new_event_body

from local import sign
from local.lambda_runtime import http_event

pytestmark = pytest.mark.integration


def test_the_printed_curl_line_sends_the_body_it_signed(
    bridge: Bridge, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a sample body with an old event time, for a recipient on a live call
    key, _ = bridge.live_call()
    sample = tmp_path / "body.json"
    sample.write_text(json.dumps({**new_event_body(key), "timestamp": "2020-01-01T00:00:00Z"}))

    # When local.sign prints its headers and curl line (the event time is set to now)
    stack = bridge.stack
    code = sign.main(
        [
            str(sample),
            "--secret",
            stack.credentials.webhook_secret,
            "--url",
            "http://127.0.0.1:9/events",
            "--aws-endpoint",
            stack.aws_endpoint,
        ]
    )
    curl = shlex.split(capsys.readouterr().out.strip().splitlines()[-1])

    # Then the request that line makes is delivered
    assert code == 0
    headers = dict(curl[i + 1].split(": ", 1) for i, arg in enumerate(curl) if arg == "-H")
    body = curl[curl.index("--data-binary") + 1]
    reply = bridge.invoke(
        "IngestFunction", http_event("POST", "/events", route_key="POST /events", headers=headers, body=body)
    )
    assert reply.status == 200, reply.body
    assert json.loads(reply.body)["status"] == "delivered"
