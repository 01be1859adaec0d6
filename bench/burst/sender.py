"""The senders, in a process of their own: `python -m bench.burst.sender CONFIG.json`.

Each planned event is signed and POSTed when its moment comes (an open load: a send starts on time
whatever the answers to the earlier ones), a planned duplicate a moment later, and every attempt a
sender could not hand over (no 2xx, a timeout, a refused connection) is retried on the compressed
schedule until the attempts run out. Every attempt is one JSON line in the output file: which event
and copy, when it started and ended (Unix time), the status and what the answer said.

Standard library, `requests` and local/senders.py only: nothing of the bridge's is imported here.
"""

from __future__ import annotations

import heapq
import itertools
import json
import queue
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import requests

from local.senders import standard_webhooks_headers, stripe_headers


@dataclass(order=True)
class _Send:
    due: float  # Unix time
    sequence: int
    event: dict[str, Any]
    copy: int  # 0 the original, 1 the duplicate
    attempt: int  # 1 for the first send of this copy


def body_of(event: dict[str, Any], moment: float) -> bytes:
    """The delivery's body, fixed at its first send: retries and duplicates resend the same bytes."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))
    if event["kind"] == "live":
        body: dict[str, Any] = {
            "type": "crm.customer.identified",
            "timestamp": stamp,
            "to": event["recipient"],
            "data": {"customer_id": f"cus_{event['index']:06d}", "name": "Ada Lovelace", "tier": "gold"},
        }
    else:
        # A Stripe event whose customer carries no agent identity: it concerns no one.
        body = {
            "id": event["event_id"],
            "object": "event",
            "type": "customer.updated",
            "created": int(moment),
            "livemode": False,
            "data": {"object": {"id": f"cus_{event['index']:06d}", "object": "customer", "metadata": {}}},
        }
    return json.dumps(body, separators=(",", ":")).encode()


class Senders:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self._front = config["front"].rstrip("/")
        self._delays: list[float] = config["retry_delays"]
        self._timeout = float(config["timeout_seconds"])
        self._heap: list[_Send] = []
        self._ready: queue.Queue[_Send | None] = queue.Queue()
        self._lock = threading.Condition()
        self._pending = 0  # sends scheduled or running
        self._sequence = itertools.count()
        self._bodies: dict[int, bytes] = {}
        self._local = threading.local()
        self._output: IO[str] | None = None
        self._written = threading.Lock()

    def run(self) -> None:
        start = float(self.config["start_at"])
        for event in self.config["plan"]:
            self._schedule(_Send(start + event["at"], next(self._sequence), event, 0, 1))
            if event["duplicate_at"] is not None:
                self._schedule(_Send(start + event["duplicate_at"], next(self._sequence), event, 1, 1))
        with Path(self.config["output"]).open("w", encoding="utf-8") as self._output:
            workers = [threading.Thread(target=self._work, daemon=True) for _ in range(int(self.config["workers"]))]
            for worker in workers:
                worker.start()
            self._dispatch()
            for _ in workers:
                self._ready.put(None)
            for worker in workers:
                worker.join(timeout=self._timeout + 5)

    def _schedule(self, send: _Send) -> None:
        with self._lock:
            heapq.heappush(self._heap, send)
            self._pending += 1
            self._lock.notify()

    def _dispatch(self) -> None:
        """Hands each send to a worker when it is due, until nothing is scheduled or running."""
        with self._lock:
            while self._pending:
                if not self._heap:
                    self._lock.wait(0.5)
                    continue
                wait = self._heap[0].due - time.time()
                if wait > 0:
                    self._lock.wait(min(wait, 0.5))
                    continue
                self._ready.put(heapq.heappop(self._heap))

    def _work(self) -> None:
        while (send := self._ready.get()) is not None:
            try:
                self._send(send)
            finally:
                with self._lock:
                    self._pending -= 1
                    self._lock.notify()

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def _send(self, send: _Send) -> None:
        event = send.event
        started = time.time()
        body = self._bodies.get(event["index"]) or self._bodies.setdefault(event["index"], body_of(event, started))
        if event["kind"] == "live":
            url = f"{self._front}/events"
            headers = standard_webhooks_headers(body, self.config["secrets"]["default"], event_id=event["event_id"])
        else:
            url = f"{self._front}/events/stripe"
            headers = stripe_headers(body, self.config["secrets"]["stripe"])
        record: dict[str, Any] = {
            "i": event["index"],
            "copy": send.copy,
            "attempt": send.attempt,
            "due": round(send.due, 4),
            "start": round(started, 4),
        }
        try:
            reply = self._session().post(url, data=body, headers=headers, timeout=self._timeout)
            record.update(answer(reply.status_code, reply.headers, reply.content))
        except requests.RequestException as error:
            record.update(status=0, outcome=type(error).__name__)
        record["end"] = round(time.time(), 4)
        self._write(record)
        if not 200 <= record["status"] < 300 and send.attempt <= len(self._delays):
            delay = self._delays[send.attempt - 1]
            self._schedule(_Send(record["end"] + delay, next(self._sequence), event, send.copy, send.attempt + 1))

    def _write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":"))
        with self._written:
            assert self._output is not None
            self._output.write(line + "\n")


def answer(status: int, headers: Any, content: bytes) -> dict[str, Any]:
    """What a sender learns from an answer: the status, and the body's `status` (2xx), problem `code`
    or API Gateway `message`; a parked answer's `expires_at`; whether it was a replay."""
    found: dict[str, Any] = {"status": status}
    try:
        body = json.loads(content) if content else {}
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    found["outcome"] = body.get("status") if 200 <= status < 300 else body.get("code") or body.get("message")
    if body.get("expires_at") is not None:
        found["expires_at"] = body["expires_at"]
    if str(headers.get("Idempotent-Replayed", "")).lower() == "true":
        found["replayed"] = True
    return found


def main(argv: list[str]) -> int:
    config = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    Senders(config).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
