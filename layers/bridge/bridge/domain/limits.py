"""Input limits, checked on the raw bytes before any recursive work (parsing, deep copies, schemas).

A signed request that makes the bridge fail with a 5xx is a poison event: the sender retries it for
days. So every body is held to these limits and answered with a 4xx that names the one it broke.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from bridge.domain.errors import BodyTooLarge, InputLimitExceeded, MalformedBody

MAX_BODY_BYTES = 1_048_576  # 1 MiB: GitHub's largest common payloads fit; Lambda's own cap is 6 MB
MAX_DEPTH = 64  # nested objects and arrays, the body itself counting as 1
MAX_NUMBER_CHARS = 100  # one number literal; also keeps clear of Python's 4,300-digit int limit

# A JSON string, escapes included (unrolled, so it runs in linear time).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"[]{}")
_OPEN = frozenset(b"[{")


def check_size(body: bytes) -> None:
    if len(body) > MAX_BODY_BYTES:
        raise BodyTooLarge(
            f"The body is {len(body)} bytes; the limit is {MAX_BODY_BYTES}.", size=len(body), limit=MAX_BODY_BYTES
        )


def check_depth(body: bytes) -> None:
    """Counts brackets outside strings: no parser or recursion runs before the depth is known."""
    depth = 0
    for byte in _STRING.sub(b"", body).translate(None, _NOT_BRACKETS):
        if byte in _OPEN:
            depth += 1
            if depth > MAX_DEPTH:
                raise InputLimitExceeded(
                    f"The body nests objects and arrays more than {MAX_DEPTH} levels deep.",
                    exceeded="depth",
                    limit=MAX_DEPTH,
                )
        else:
            depth = max(0, depth - 1)


def parse_limited_json(body: bytes) -> Any:
    """The parsed body, or a 4xx: too large, too deep, not UTF-8 JSON, a non-finite or over-long
    number, or a string that is not Unicode text (a lone surrogate escape such as \\ud800)."""
    check_size(body)
    check_depth(body)
    try:
        document = json.loads(body.decode("utf-8"), parse_constant=_reject_constant, parse_float=_float, parse_int=_int)
    except _NumberTooLong as error:
        raise InputLimitExceeded(str(error), exceeded="number_length", limit=MAX_NUMBER_CHARS) from None
    except (UnicodeDecodeError, ValueError) as error:
        raise MalformedBody(f"The body is not valid UTF-8 JSON: {error}") from None
    try:
        # Lone surrogates parse, but can't be encoded as UTF-8: not in Content, not in a log line.
        json.dumps(document, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedBody("The body holds a lone UTF-16 surrogate escape (\\ud800-\\udfff), not text.") from None
    return document


class _NumberTooLong(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON; accepting them would send Twilio invalid Content.
    raise ValueError(f"{name} is not valid JSON")


def _int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise _NumberTooLong(f"A number in the body is {len(text)} characters long; the limit is {MAX_NUMBER_CHARS}.")
    return int(text)


def _float(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise _NumberTooLong(f"A number in the body is {len(text)} characters long; the limit is {MAX_NUMBER_CHARS}.")
    value = float(text)
    if not math.isfinite(value):
        # 1e400 parses as infinity, which is not JSON either.
        raise ValueError(f"{text} is out of range for a JSON number")
    return value
