"""The README stays one screen, its links and the docs site's resolve as GitHub and MkDocs read them,
and measured figures reach the docs only through the files `make bench` and `make test-faults` write.

`make docs` (mkdocs build --strict) checks the links between docs pages too; this also covers the
README, which MkDocs never reads, and runs without building the site."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
# docs/figures/ holds fragments the pages include, written by make bench and make test-faults: not pages.
PAGES = sorted(path for path in DOCS.rglob("*.md") if "figures" not in path.relative_to(DOCS).parts)

FENCE = re.compile(r"^ *(```|~~~).*?^ *\1", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} +(.+?) *#*$", re.MULTILINE)


def prose(path: Path) -> str:
    """The file without its code: what looks like a link inside code is not one."""
    return INLINE_CODE.sub("", FENCE.sub("", path.read_text(encoding="utf-8")))


def slug(heading: str) -> str:
    """Python-Markdown's toc slug, which for these headings is also GitHub's."""
    text = unicodedata.normalize("NFKD", heading).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def anchors(path: Path) -> set[str]:
    return {slug(heading) for heading in HEADING.findall(FENCE.sub("", path.read_text(encoding="utf-8")))}


def relative_links(path: Path) -> list[str]:
    return [target for target in LINK.findall(prose(path)) if not re.match(r"^[a-z][a-z0-9+.-]*:", target)]


def test_readme_is_one_screen() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 150, f"README.md has {len(lines)} lines; the reference belongs in docs/"


def test_docs_pages_exist() -> None:
    names = {path.name for path in PAGES}
    assert {"index.md", "event-contract.md", "delivery.md", "performance.md"} <= names


@pytest.mark.parametrize("path", [README, *PAGES], ids=lambda path: str(path.relative_to(ROOT)))
def test_relative_links_resolve(path: Path) -> None:
    broken = []
    for target in relative_links(path):
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        if not resolved.exists():
            broken.append(f"{target}: no file {resolved.relative_to(ROOT)}")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading #{anchor} in {resolved.relative_to(ROOT)}")
    assert not broken, f"{path.relative_to(ROOT)}: " + "; ".join(broken)


def test_readme_links_into_the_docs() -> None:
    linked = {(README.parent / target.partition("#")[0]).resolve() for target in relative_links(README)}
    missing = [path.relative_to(ROOT) for path in PAGES if path.resolve() not in linked]
    assert not missing, f"README.md links to no {missing}"


@pytest.mark.parametrize(
    ("page", "fragment"),
    [
        ("performance.md", "docs/figures/bench.md"),
        ("delivery.md", "docs/figures/faults.md"),
        ("cards.md", "docs/figures/cards.md"),
    ],
)
def test_measured_figures_are_included_not_typed(page: str, fragment: str) -> None:
    text = (DOCS / page).read_text(encoding="utf-8")
    # pymdown's snippets, with check_paths: a missing fragment fails make docs instead of showing nothing
    assert f'--8<-- "{fragment}"' in text.splitlines()
    for path in [README, *PAGES]:
        typed = [
            line
            for line in path.read_text(encoding="utf-8").splitlines()
            if re.match(r"(FAULT SUITE|FORWARD FAULTS):", line)
        ]
        assert not typed, f"{path.relative_to(ROOT)} types a totals line by hand: {typed[0]}"


def test_the_cards_figure_is_what_make_docs_cards_writes() -> None:
    # Each source's card beside its payload: rendered from tests/fixtures/ and the shipped cards.json.
    from tools.cards_figure import FIGURE, figure

    assert FIGURE.read_text(encoding="utf-8") == figure(), "docs/figures/cards.md is stale: run make docs-cards"
