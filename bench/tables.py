"""The report's building blocks and their layout as aligned text for the terminal. A section is a list
of blocks, not of lines, so it can be laid out another way too."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Heading:
    """A section's name: a line of its own."""

    text: str


@dataclass(frozen=True)
class Title:
    """The line above a table: says what it measured and how."""

    text: str


@dataclass(frozen=True)
class Note:
    """A line under a table: indented."""

    text: str


@dataclass(frozen=True)
class Table:
    headers: Sequence[str]
    rows: Sequence[Sequence[str]]


@dataclass(frozen=True)
class Gap:
    """A blank line."""


GAP = Gap()
Block = Heading | Title | Note | Table | Gap


def text(blocks: Sequence[Block]) -> str:
    lines: list[str] = []
    for block in blocks:
        match block:
            case Heading() | Title():
                lines.append(block.text)
            case Note():
                lines.append(f"  {block.text}")
            case Table():
                lines += _text_table(block.headers, block.rows)
            case Gap():
                lines.append("")
    return "\n".join(lines) + "\n"


def _text_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    lines = [
        "  ".join(
            str(cell).rjust(w) if i else str(cell).ljust(w) for i, (cell, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in [headers, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return ["  " + line.rstrip() for line in lines]


# -- numbers ---------------------------------------------------------------------------------------------


def num(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:,.{digits}f}"


def times(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.2f}x"


def usd(value: float) -> str:
    """Dollars, with enough digits for a fraction of a cent (a restore is about $0.00014)."""
    if abs(value) >= 0.995:
        return f"${value:,.2f}"
    return f"${value:.4f}" if abs(value) >= 0.01 else f"${value:.7f}"


def megabytes(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


def ms_label(ms: float) -> str:
    return f"{ms:g} ms"
