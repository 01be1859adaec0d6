"""The console's live state: each topic's latest JSON and a version that moves when it changes.

A thread rebuilds every topic when an observer pokes it (the front answered, the receiver got a
webhook) and once a second otherwise (a stream's flush, a TTL expiry), while a page is open to see
it; the page's event streams wait on it. What a topic holds is bounded by its builder."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("local.console")

# Pokes that come close together (a burst of events) make one rebuild.
_SETTLE_SECONDS = 0.05


class Watch:
    def __init__(
        self, builders: dict[str, Callable[[], Any]], interval: float = 1.0, wanted: Callable[[], bool] = lambda: True
    ) -> None:
        self._builders = builders
        self._wanted = wanted  # no page open: nothing to rebuild for (moto is left alone)
        self._interval = interval
        self._changed = threading.Condition()
        self._texts: dict[str, str] = {}
        self._versions: dict[str, int] = dict.fromkeys(builders, 0)
        self._poked = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="console-watch", daemon=True)

    def start(self) -> Watch:
        self.rebuild()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._poked.set()
        with self._changed:
            self._changed.notify_all()
        self._thread.join(timeout=5)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def poke(self, *_: object) -> None:
        """Something changed: rebuild soon. Any observer can call it, with whatever it observed."""
        self._poked.set()

    def rebuild(self) -> None:
        for topic, build in self._builders.items():
            try:
                text = json.dumps(build(), separators=(",", ":"), ensure_ascii=False)
            except Exception:
                # A source that is stopping or failing (moto at shutdown) leaves the topic as it was.
                log.exception("console topic could not be read", extra={"topic": topic})
                continue
            with self._changed:
                if self._texts.get(topic) != text:
                    self._texts[topic] = text
                    self._versions[topic] += 1
                    self._changed.notify_all()

    def changed_since(self, seen: dict[str, int], timeout: float) -> dict[str, str]:
        """The topics whose version moved past `seen` (which is updated), waiting up to `timeout`."""
        with self._changed:
            self._changed.wait_for(
                lambda: self.stopping or any(self._versions[t] != seen.get(t) for t in self._versions), timeout
            )
            fresh = {topic: text for topic, text in self._texts.items() if self._versions[topic] != seen.get(topic)}
            seen.update({topic: self._versions[topic] for topic in fresh})
            return fresh

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._poked.wait(self._interval)
            if self._stopping.is_set():
                return
            self._stopping.wait(_SETTLE_SECONDS)
            self._poked.clear()
            if self._wanted():
                self.rebuild()
