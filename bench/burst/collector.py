"""The garbage collector in the burst's two processes: its pauses, and how they are kept short.

Each process holds what AWS spreads over many: moto every table, stream record and shard iterator
of the run; the stack every container's own copy of the handler modules. A full collection stops
every thread of the process while it walks all of that (moto's reached 330 ms, the stack's 160 ms,
in a burst of 3,000 events), and at 50 events a second a stall that long piles invocations up to
ingest's reserved concurrency, where API Gateway answers 500. On AWS a Lambda environment collects
only its own small heap (and ingest freezes what Init built), and DynamoDB has no collector at all.
So both processes freeze what they hold every few seconds: a collection then walks only what was
allocated since. Cycles among frozen objects are never freed, a bounded cost for a run of minutes.
"""

from __future__ import annotations

import gc
import threading
import time
from typing import Any


class Collector:
    def __init__(self, freeze_every: float = 2.0) -> None:
        self._started = 0.0
        self._pauses: list[float] = []
        self._lock = threading.Lock()
        self._every = freeze_every
        self._stop = threading.Event()
        gc.callbacks.append(self._observe)
        self._thread = threading.Thread(target=self._freeze, name="gc-freeze", daemon=True)
        self._thread.start()

    def summary(self) -> dict[str, Any]:
        """The collections so far: how many, the longest and the total pause, in ms."""
        with self._lock:
            pauses = list(self._pauses)
        return {
            "collections": len(pauses),
            "max_ms": round(max(pauses, default=0.0) * 1000, 1),
            "total_ms": round(sum(pauses) * 1000, 1),
        }

    def stop(self) -> None:
        self._stop.set()
        gc.callbacks.remove(self._observe)

    def _observe(self, phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        pause = time.perf_counter() - self._started
        with self._lock:
            self._pauses.append(pause)

    def _freeze(self) -> None:
        while not self._stop.wait(self._every):
            gc.freeze()
