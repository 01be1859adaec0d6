"""The front runs invocations concurrently as Lambda does: each in a container of its function that
loaded the handler module itself, at most the function's concurrency at once; beyond it API Gateway's
500, and an event source mapping waits instead."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from helpers import new_event_body, new_id

from local.front import HttpFront
from local.lambda_runtime import RUNTIME, http_event, invoke
from local.stack import LocalStack
from local.template import Function, Route

pytestmark = pytest.mark.integration

# A handler that sleeps as long as it is asked and says which copy of its module ran it, and when.
SLOW_HANDLER = """
import json, time, uuid

CONTAINER = uuid.uuid4().hex  # module state: one per loaded copy of this module


def lambda_handler(event, context):
    body = json.loads(event.get("body") or "{}")
    if body.get("fail"):
        raise RuntimeError("the handler failed")
    started = time.monotonic()
    time.sleep(body.get("sleep", 0))
    answer = {"container": CONTAINER, "started": started, "ended": time.monotonic()}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(answer)}
"""


def slow_function(code: Path, reserved: int | None) -> Function:
    (code / "app.py").write_text(SLOW_HANDLER)
    return Function(
        logical_id=f"Slow{uuid.uuid4().hex[:8]}Function",  # a pool of its own in the process's runtime
        code_uri=code,
        handler="app.lambda_handler",
        timeout=10,
        memory=128,
        environment={},
        routes=[Route("POST", "/slow", None)],
        reserved_concurrency=reserved,
    )


type Serve = Callable[[int | None], tuple[str, Function]]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    """Serves a slow function with the given reserved concurrency behind a front of its own."""
    fronts: list[HttpFront] = []

    def start(reserved: int | None) -> tuple[str, Function]:
        function = slow_function(tmp_path, reserved)
        front = HttpFront({function.logical_id: function}, port=0).start()
        fronts.append(front)
        return front.base_url, function

    yield start
    for front in fronts:
        front.stop()


def post_together(url: str, bodies: list[dict[str, object]]) -> list[requests.Response]:
    start = threading.Barrier(len(bodies))

    def post(body: dict[str, object]) -> requests.Response:
        start.wait()
        return requests.post(f"{url}/slow", json=body, timeout=30)

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(post, bodies))


def test_two_slow_invocations_run_at_once_in_containers_of_their_own(serve: Serve) -> None:
    # Given a function that may run two at once
    url, function = serve(2)

    # When two slow requests arrive together, and a third after them
    first, second = post_together(url, [{"sleep": 1.0}, {"sleep": 1.0}])
    third = requests.post(f"{url}/slow", json={}, timeout=30)

    # Then the two overlapped in time, each in its own copy of the module, and the third reused one
    a, b = first.json(), second.json()
    assert (first.status_code, second.status_code) == (200, 200)
    assert a["started"] < b["ended"]
    assert b["started"] < a["ended"]
    assert a["container"] != b["container"]
    assert third.json()["container"] in {a["container"], b["container"]}
    stats = RUNTIME.concurrency()[function.logical_id]
    assert (stats.peak, stats.containers, stats.invocations, stats.throttled) == (2, 2, 3, 0)


# A Powertools resolver whose route reads the event being resolved, waits, and reads it again.
RESOLVER_HANDLER = """
import time
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

app = APIGatewayHttpResolver()


@app.post("/slow")
def slow():
    before = app.current_event.json_body["n"]
    time.sleep(0.5)
    return {"before": before, "after": app.current_event.json_body["n"], "request": app.lambda_context.aws_request_id}


def lambda_handler(event, context):
    return app.resolve(event, context)
"""


def test_each_invocation_resolves_its_own_event_though_powertools_keeps_it_on_a_class(tmp_path: Path) -> None:
    # Given a function resolved by Powertools, whose current event lives on the BaseRouter class
    (tmp_path / "app.py").write_text(RESOLVER_HANDLER)
    function = Function(
        logical_id=f"Resolver{uuid.uuid4().hex[:8]}Function",
        code_uri=tmp_path,
        handler="app.lambda_handler",
        timeout=10,
        memory=128,
        environment={},
        routes=[Route("POST", "/slow", None)],
    )
    front = HttpFront({function.logical_id: function}, port=0).start()
    try:
        # When four requests are resolved at once, each waiting between two reads of its event
        replies = post_together(front.base_url, [{"n": n} for n in range(4)])
    finally:
        front.stop()

    # Then each read its own event both times, with a context of its own
    answers = [reply.json() for reply in replies]
    assert [(answer["before"], answer["after"]) for answer in answers] == [(n, n) for n in range(4)]
    assert len({answer["request"] for answer in answers}) == 4


def test_a_request_beyond_the_limit_gets_api_gateways_500(serve: Serve) -> None:
    # Given a function with a reserved concurrency of one
    url, function = serve(1)

    # When two slow requests arrive together
    replies = post_together(url, [{"sleep": 1.0}, {"sleep": 1.0}])

    # Then one ran, and Lambda refused the other: API Gateway's 500, as AWS documents it
    assert sorted(reply.status_code for reply in replies) == [200, 500]
    refused = next(reply for reply in replies if reply.status_code == 500)
    assert refused.json() == {"message": "Internal Server Error"}
    stats = RUNTIME.concurrency()[function.logical_id]
    assert (stats.peak, stats.throttled, stats.containers) == (1, 1, 1)

    # And once the first is answered the function takes requests again
    assert requests.post(f"{url}/slow", json={}, timeout=30).status_code == 200


def test_a_handler_that_raises_gets_api_gateways_502(serve: Serve) -> None:
    url, _ = serve(None)

    reply = requests.post(f"{url}/slow", json={"fail": True}, timeout=30)

    assert reply.status_code == 502
    assert reply.json() == {"message": "Internal Server Error"}


def test_an_event_source_mapping_waits_for_a_container_instead(tmp_path: Path) -> None:
    # Given a function with a reserved concurrency of one
    function = slow_function(tmp_path, reserved=1)
    body = json.dumps({"sleep": 0.5})
    event = http_event("POST", "/slow", route_key="POST /slow", headers={"content-type": "application/json"}, body=body)

    # When two invocations that wait (as a stream or queue poller invokes) start together
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: invoke(function, event, wait=True), range(2)))

    # Then both ran, one after the other, in the one container
    first, second = (json.loads(answer["body"]) for answer in answers)
    assert first["container"] == second["container"]
    assert first["ended"] <= second["started"] or second["ended"] <= first["started"]
    stats = RUNTIME.concurrency()[function.logical_id]
    assert (stats.peak, stats.throttled, stats.invocations) == (1, 0, 2)


def test_concurrent_events_through_the_real_ingest_each_get_their_own_answer(stack: LocalStack) -> None:
    # Given the bridge behind a front, a live call, and Twilio answering after 400 ms
    front = HttpFront(stack.functions, port=0).start()
    try:
        call = stack.emulator.create_call(stack.credentials.account.account_sid)
        key = f"identity:{new_id()}"
        assert requests.put(f"{front.base_url}/calls/{key}", json={"call_sid": call["sid"]}, timeout=10).ok
        stack.emulator.set_udm_latency(400)
        RUNTIME.reset_counters()

        # When six signed events arrive together
        ids = [new_id() for _ in range(6)]
        start = threading.Barrier(len(ids))

        def post(event_id: str) -> requests.Response:
            body = json.dumps(new_event_body(key))
            start.wait()
            return requests.post(
                f"{front.base_url}/events",
                data=body.encode(),
                headers=stack.sign(body, event_id=event_id, timestamp=time.time()),
                timeout=30,
            )

        with ThreadPoolExecutor(len(ids)) as pool:
            replies = list(pool.map(post, ids))
    finally:
        stack.emulator.set_udm_latency(0)
        front.stop()

    # Then each is delivered and answered with its own event, by ingest running several at once
    assert [reply.status_code for reply in replies] == [200] * len(ids)
    assert [reply.json()["event_id"] for reply in replies] == ids
    ingest = RUNTIME.concurrency()["IngestFunction"]
    assert ingest.peak >= 2  # a container runs one invocation at a time: two or more of them
    assert ingest.throttled == 0
    assert ingest.limit == 50  # the template's IngestReservedConcurrency default
