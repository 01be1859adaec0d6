"""Every log line, as the process writes it: phone numbers masked, and one line however odd its values."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import cast

import pytest

from bridge.domain.errors import NoActiveCall
from bridge.domain.outcomes import Outcome
from bridge.entrypoints.outcomes import record, record_error
from bridge.observability import logger

NUMBER = "+15551234567"


@pytest.fixture
def written() -> Iterator[io.StringIO]:
    """What the Logger's own handler writes, in place of stdout."""
    handler = cast(logging.StreamHandler[io.StringIO], logger.registered_handler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield buffer
    handler.setStream(previous)


def lines(buffer: io.StringIO) -> list[str]:
    return buffer.getvalue().splitlines()


def test_phone_numbers_are_masked_in_every_field_and_the_message(written: io.StringIO) -> None:
    record(Outcome.REGISTERED, recipient=f"phone:{NUMBER}", call_sid="CA" + "a" * 32, note=f"from {NUMBER}")
    logger.info(f"caller {NUMBER} rang", extra={"nested": {"keys": [f"phone:{NUMBER}"]}})

    text = written.getvalue()
    assert NUMBER not in text
    assert "5551234567" not in text
    first, second = map(json.loads, lines(written))
    assert (first["recipient"], first["note"]) == ("phone:+1555•••4567", "from +1555•••4567")
    assert (second["message"], second["nested"]) == ("caller +1555•••4567 rang", {"keys": ["phone:+1555•••4567"]})


def test_a_problems_detail_and_an_exceptions_traceback_are_masked(written: io.StringIO) -> None:
    record_error(NoActiveCall(f"phone:{NUMBER} has no active call.", recipient=f"phone:{NUMBER}"))
    try:
        raise ValueError(f"no call for {NUMBER}")
    except ValueError:
        logger.exception("unexpected error")

    assert NUMBER not in written.getvalue()
    problem, failure = map(json.loads, lines(written))
    assert problem["detail"] == "phone:+1555•••4567 has no active call."
    assert "no call for +1555•••4567" in failure["exception"]


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\u0085"])
def test_unicode_line_separators_are_escaped_so_a_line_stays_a_line(written: io.StringIO, separator: str) -> None:
    key = f"identity:a{separator}b"
    record(Outcome.LOOKED_UP, recipient=key, detail=f"x{separator}y")

    # str.splitlines() splits on each of them, as line-splitting tools do
    [line] = lines(written)
    assert separator not in line
    assert json.loads(line)["recipient"] == key
    assert json.loads(line)["detail"] == f"x{separator}y"
