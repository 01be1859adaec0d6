"""The report's building blocks and their two layouts: aligned text for the terminal, Markdown for
docs/figures/. A section is a list of blocks, so both layouts show the same figures."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Heading:
    """A section's name: a line of its own in text, `###` in Markdown (the fragment sits inside a page)."""

    text: str


@dataclass(frozen=True)
class Title:
    """The line above a table: says what it measured and how."""

    text: str


@dataclass(frozen=True)
class Note:
    """A line under a table: indented in text, a list item in Markdown."""

    text: str


@dataclass(frozen=True)
class Table:
    headers: Sequence[str]
    rows: Sequence[Sequence[str]]


@dataclass(frozen=True)
class Gap:
    """A blank line in text; Markdown puts one between blocks anyway."""


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


def markdown(blocks: Sequence[Block]) -> str:
    chunks: list[list[str]] = []
    in_list = False  # consecutive notes make one list
    for block in blocks:
        match block:
            case Heading():
                chunks.append([f"### {_escape(block.text)}"])
            case Title():
                chunks.append([_escape(block.text)])
            case Note():
                if not in_list:
                    chunks.append([])
                chunks[-1].append(f"- {_escape(block.text)}")
            case Table():
                chunks.append(_markdown_table(block.headers, block.rows))
            case Gap():
                pass
        in_list = isinstance(block, Note)
    return "\n\n".join("\n".join(chunk) for chunk in chunks) + "\n"


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


def _markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    # Left-aligned first column, numbers right-aligned, as in the text layout.
    rule = ["---" if i == 0 else "---:" for i in range(len(headers))]
    return ["| " + " | ".join(_escape(str(cell)) for cell in row) + " |" for row in [headers, rule, *rows]]


def _escape(value: str) -> str:
    # `$` pairs would render as maths on GitHub; `|` would split a table cell.
    for char in ("\\", "`", "*", "$", "|"):
        value = value.replace(char, "\\" + char)
    return value


# -- numbers ---------------------------------------------------------------------------------------------


def num(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:,.{digits}f}"


def times(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.{digits}f}x"


def usd(value: float) -> str:
    """Dollars, with enough digits for a fraction of a cent (a restore is about $0.00014)."""
    if abs(value) >= 0.995:
        return f"${value:,.2f}"
    return f"${value:.4f}" if abs(value) >= 0.01 else f"${value:.7f}"


def megabytes(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


def ms_label(ms: float) -> str:
    return f"{ms:g} ms"
