"""The report's profile sections: where the bridge's Init, first event and warm events spend their time.
Printed only: they explain the figures and are not part of them."""

from __future__ import annotations

from typing import Any

from bench.tables import GAP, Block, Note, Table, Title, num


def profile_blocks(profile: dict[str, Any]) -> list[Block]:
    blocks: list[Block] = []
    cold = profile.get("cold") or {}
    imports = cold.get("imports") or {}
    for phase, title in (("init", "Init"), ("first_event", "the first event")):
        summary = imports.get(phase) or {}
        if not summary.get("top"):
            continue
        rows = [[num(item["cumulative_ms"]), num(item["self_ms"]), item["module"]] for item in summary["top"]]
        packages = ", ".join(f"{name} {ms:.0f}" for name, ms in summary["packages"][:8])
        blocks += [
            GAP,
            Title(
                f"Imports during {title} of the bridge: python -X importtime in one extra cold child, "
                f"{summary['modules']} modules, {summary['total_ms']:.0f} ms as profiled (profiling inflates it)"
            ),
            Table(["cumulative ms", "self ms", "module (top 15 by cumulative)"], rows),
            Note(f"self ms by top-level package: {packages}"),
        ]
    first = cold.get("first_event") or {}
    if first.get("functions"):
        blocks += [
            GAP,
            Title(f"The bridge's first event under cProfile (wall time; {cold['first_event_ms']:.0f} ms as profiled)"),
            *_profile_table(first, 1, top=12),
        ]
    warm = profile.get("warm") or {}
    if warm.get("functions"):
        events = max(1, int(warm.get("events", 1)))
        blocks += [
            GAP,
            Title(
                f"A warm bridge event's CPU time under cProfile (process_time; mean of {events} events; "
                "not in the statistics above)"
            ),
            *_profile_table(warm, events, top=15),
        ]
    return blocks


def _profile_table(profile: dict[str, Any], events: int, *, top: int) -> list[Block]:
    packages = ", ".join(f"{name} {ms / events:.2f}" for name, ms in profile["packages"][:8])
    rows = [
        [
            num(row["self_ms"] / events, 3),
            num(row["cumulative_ms"] / events, 3),
            num(row["calls"] / events, 1),
            row["function"][-95:],
        ]
        for row in profile["functions"][:top]
    ]
    return [Note(f"self ms by package: {packages}"), Table(["self ms", "cum ms", "calls", "function"], rows)]
