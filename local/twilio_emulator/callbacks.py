"""Status callbacks of simulated calls: signed as Twilio signs them, recorded, held, released, replayed.

The log has its own lock. The model records a callback while holding its lock (so a leg's status and
its callback are numbered together); the log never calls back into the model, so that order is safe.
Nothing is POSTed under either lock, because the receiver may call the emulator while it handles one.
"""

from __future__ import annotations

import http.client
import logging
import threading
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import cast

from twilio.request_validator import RequestValidator

from local.twilio_emulator.wire import JSONDict, is_int

logger = logging.getLogger(__name__)

_CALLBACK_TIMEOUT_SECONDS = 10.0


@dataclass
class Callback:
    index: int
    url: str
    params: dict[str, str]
    signature: str
    held: bool
    status_code: int | None = None
    error: str | None = None

    def as_dict(self) -> JSONDict:
        return {
            "index": self.index,
            "url": self.url,
            "params": dict(self.params),
            "signature": self.signature,
            "status_code": self.status_code,
            "error": self.error,
            "held": self.held,
        }


class CallbackLog:
    """Every status callback in the order it was made; while held, new ones wait for release()."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[Callback] = []
        self._holding = False

    def record(self, url: str, params: dict[str, str], auth_token: str) -> list[Callback]:
        """Sign and record one callback; returns it if it is to be sent now rather than held."""
        signature = str(RequestValidator(auth_token).compute_signature(url, params))
        with self._lock:
            record = Callback(len(self._records), url, params, signature, held=self._holding)
            self._records.append(record)
        return [] if record.held else [record]

    def as_dicts(self) -> list[JSONDict]:
        with self._lock:
            return [record.as_dict() for record in self._records]

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self._holding = False

    def replay(self, index: int) -> JSONDict:
        """Send a recorded callback again, byte for byte (held instead while callbacks are held)."""
        with self._lock:
            original = self._at(index)
            record = Callback(
                index=len(self._records),
                url=original.url,
                params=dict(original.params),
                signature=original.signature,
                held=self._holding,
            )
            self._records.append(record)
        self.deliver([] if record.held else [record])
        with self._lock:
            return record.as_dict()

    def hold(self, hold: bool = True) -> None:
        if not isinstance(hold, bool):
            raise ValueError("'hold' must be a boolean")
        with self._lock:
            self._holding = hold

    def release(self, order: Sequence[int] | None = None) -> list[JSONDict]:
        """Send held callbacks: those named by index in ``order`` (in that order), else all, oldest first."""
        with self._lock:
            if order is None:
                chosen = [record for record in self._records if record.held]
            else:
                if isinstance(order, str | bytes) or not isinstance(order, Sequence) or not all(map(is_int, order)):
                    raise ValueError("'order' must be a list of callback indexes")
                if len(set(order)) != len(order):
                    raise ValueError("'order' names a callback more than once")
                chosen = [self._at(index) for index in order]
                not_held = [record.index for record in chosen if not record.held]
                if not_held:
                    raise ValueError(f"callbacks {not_held} are not held")
            # Claimed under the lock so a concurrent release can't send the same callback twice.
            for record in chosen:
                record.held = False
        self.deliver(chosen)
        with self._lock:
            return [record.as_dict() for record in chosen]

    def deliver(self, records: Iterable[Callback]) -> None:
        for record in records:
            status_code, error = _post(record)
            with self._lock:
                record.status_code, record.error = status_code, error

    def _at(self, index: object) -> Callback:
        if not is_int(index):
            raise ValueError(f"a callback index must be an integer, got {index!r}")
        position = cast(int, index)
        # No negative indexing: -1 is not a callback anyone was told about.
        if not 0 <= position < len(self._records):
            raise KeyError(f"unknown callback {index}")
        return self._records[position]


def _post(record: Callback) -> tuple[int | None, str | None]:
    # http.client rather than urllib: header names go out as Twilio spells them, no proxy from the
    # environment intercepts a loopback receiver, and a 3xx is recorded rather than followed.
    parts = urllib.parse.urlsplit(record.url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(cast(str, parts.hostname), parts.port, timeout=_CALLBACK_TIMEOUT_SECONDS)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": "TwilioProxy/1.1",
        "X-Twilio-Signature": record.signature,
    }
    try:
        connection.request("POST", target, body=urllib.parse.urlencode(record.params), headers=headers)
        response = connection.getresponse()
        response.read()
        status = response.status
    except (OSError, http.client.HTTPException, ValueError) as exc:
        # Twilio logs a failed webhook and carries on; so does the emulator.
        logger.debug("status callback %d to %s failed", record.index, record.url, exc_info=True)
        return None, f"{type(exc).__name__}: {exc}"
    finally:
        connection.close()
    logger.debug("status callback %d to %s answered %d", record.index, record.url, status)
    return status, None
