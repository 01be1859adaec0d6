"""A request as the use cases see it, and the URL its sender signed."""

from __future__ import annotations

import re
from collections.abc import Mapping

from bridge.domain.records import Record


class HttpRequest(Record):
    """The raw body, lower-case headers (as API Gateway HTTP APIs deliver them), and what the sender
    called, for schemes that sign the URL."""

    body: bytes
    headers: Mapping[str, str]
    host: str = ""
    raw_path: str = ""
    raw_query: str = ""
    method: str = "POST"

    @property
    def media_type(self) -> str:
        return media_type(self.headers.get("content-type", ""))


def media_type(content_type: str) -> str:
    """`application/json; charset=utf-8` -> `application/json`."""
    return content_type.split(";", 1)[0].strip().lower()


def signed_url(request: HttpRequest, public_base_url: str | None) -> str:
    """The URL a sender called and signed: https + Host + path + ? + raw query, with PUBLIC_BASE_URL
    (scheme, host and base path) in place of https + Host when it calls a custom domain.

    On the $default stage rawPath is the route's own path, also behind a custom domain's API
    mapping (API Gateway does not forward the mapping key), so the base path comes from the setting.
    """
    base = public_base_url.rstrip("/") if public_base_url else f"https://{request.host}"
    url = base + (request.raw_path or "/")
    return f"{url}?{request.raw_query}" if request.raw_query else url


class FormParams(dict[str, list[str]]):
    """Form fields with every value kept; RequestValidator signs them all (Flask's getall)."""

    def getall(self, name: str) -> list[str]:
        return self[name]

    def first(self, name: str) -> str:
        values = self.get(name) or [""]
        return values[0]


_SEQUENCE = re.compile(r"[0-9]{1,18}")


def sequence_number(raw: str) -> int | None:
    """Twilio's SequenceNumber of a callback or a call message; None when absent or malformed.
    ASCII digits only: str.isdigit() also takes "²", which int() refuses."""
    return int(raw) if _SEQUENCE.fullmatch(raw) else None
