"""Secrets from Secrets Manager, cached per container; every secret the store reads is fetched at once."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from bridge.domain.errors import BridgeError, ConfigurationError, StoreUnavailable

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager.client import SecretsManagerClient

# Missing or forbidden secrets are the deployment's fault, not a passing failure.
_PERMANENT_CODES = {"ResourceNotFoundException", "AccessDeniedException", "InvalidRequestException"}


class SecretStore:
    """Each secret a reader was made for is fetched when any of them is due, in parallel: a cold
    start waits for one round trip, not one per secret. BatchGetSecretValue would also make one, but
    it can only be granted on every secret (Resource "*"), which the template never grants."""

    def __init__(self, max_age_seconds: int, client: SecretsManagerClient) -> None:
        self._max_age = max_age_seconds
        # The caller's client: one botocore session per container (see bootstrap.secretsmanager).
        self._client = client
        self._ids: dict[str, None] = {}  # every secret a reader was made for, in order
        self._values: dict[str, tuple[float, str]] = {}  # raw value and when it goes stale (monotonic)
        self._lock = threading.Lock()
        # Parsed once per secret value, not once per event: the raw value only changes on rotation.
        self._parsed: dict[tuple[str, str], Any] = {}

    def reader[T](self, secret_id: str, parse: Callable[[str], T]) -> Callable[[], T]:
        """A function that returns the secret's current value, parsed."""
        self._ids[secret_id] = None
        return lambda: self.parsed(secret_id, parse)

    def prefetch(self, *secret_ids: str) -> None:
        """Starts fetching these secrets on a thread of their own: the first event's round trip runs
        while the caller builds its other clients. A read meanwhile waits for it; a secret it could
        not fetch is fetched again, and its error raised, by the read."""
        for secret_id in secret_ids:
            self._ids[secret_id] = None
        threading.Thread(target=self._prefetch, args=(secret_ids[0],), name="secrets-prefetch", daemon=True).start()

    def _prefetch(self, secret_id: str) -> None:
        # The read that needs the value fetches it again, and raises what went wrong.
        with contextlib.suppress(Exception):
            self._raw(secret_id)

    def parsed[T](self, secret_id: str, parse: Callable[[str], T]) -> T:
        raw = self._raw(secret_id)
        key = (secret_id, raw)
        if key not in self._parsed:
            self._parsed = {k: v for k, v in self._parsed.items() if k[0] != secret_id}
            self._parsed[key] = parse(raw)
        value: T = self._parsed[key]
        return value

    def _raw(self, secret_id: str) -> str:
        with self._lock:  # one fetch at a time: a second reader waits for it rather than repeating it
            now = time.monotonic()
            if not self._fresh(secret_id, now):
                others = [name for name in list(self._ids) if name != secret_id and not self._fresh(name, now)]
                fetched = _fetch_all(self._client, [secret_id, *others])
                stale_at = time.monotonic() + self._max_age
                # Only values are kept: a secret that failed is fetched again when it is next read.
                self._values |= {name: (stale_at, value) for name, value in fetched.items() if isinstance(value, str)}
                found = fetched[secret_id]
                if isinstance(found, BridgeError):
                    raise found
            return self._values[secret_id][1]

    def _fresh(self, secret_id: str, now: float) -> bool:
        cached = self._values.get(secret_id)
        return cached is not None and now < cached[0]


def _fetch_all(client: SecretsManagerClient, secret_ids: list[str]) -> dict[str, str | BridgeError]:
    """Each secret's value, or why it could not be read; the requests all in flight together."""
    if len(secret_ids) == 1:
        return {secret_ids[0]: _fetch(client, secret_ids[0])}
    from concurrent.futures import ThreadPoolExecutor

    first, *others = secret_ids
    with ThreadPoolExecutor(max_workers=len(others), thread_name_prefix="secrets") as pool:
        pending = {name: pool.submit(_fetch, client, name) for name in others}
        found = {first: _fetch(client, first)}  # this thread's share, while the others wait on theirs
        return found | {name: future.result() for name, future in pending.items()}


def _fetch(client: SecretsManagerClient, secret_id: str) -> str | BridgeError:
    try:
        answer = client.get_secret_value(SecretId=secret_id)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        if code in _PERMANENT_CODES:
            return ConfigurationError(f"secret {secret_id} cannot be read ({code})")
        return StoreUnavailable("Secrets Manager is unavailable.", retry_after=2)
    except BotoCoreError:
        return StoreUnavailable("Secrets Manager is unavailable.", retry_after=2)
    if "SecretString" in answer:
        return answer["SecretString"]
    return answer.get("SecretBinary", b"").decode("utf-8", errors="replace")
