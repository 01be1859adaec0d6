"""The benchmark's report: the text `python -m bench` prints and the Markdown fragment it writes to
docs/figures/bench.md, built from the same sections so the two cannot disagree."""

from __future__ import annotations

from typing import Any

from bench.report_latency import latency_blocks
from bench.report_loopback import loopback_blocks
from bench.report_profiles import profile_blocks
from bench.snapstart_pricing import INIT_BILLED_SINCE, SNAPSTART_PRICES_AS_OF
from bench.tables import GAP, Block, Heading, Note, Table, Title, markdown, megabytes, text, times, usd

LOOPBACK = "Loopback (no added latency)"


def render(run: dict[str, Any]) -> str:
    """The whole report, as `python -m bench` prints it."""
    summary, memory = run["summary"], run["meta"]["memory_mb"]
    blocks: list[Block] = [Title(f"udm-bridge benchmark, {run['meta']['timestamp']}")]
    blocks += [Title(f"{label + ':':<11}{value}") for label, value in _context(run)]
    blocks += [GAP, Heading(LOOPBACK), GAP, *loopback_blocks(run)]
    blocks += latency_blocks(summary.get("latency") or {}, memory)
    blocks += _snapstart(summary.get("snapstart") or {})
    blocks += _targets(summary["targets"])
    blocks += profile_blocks(run.get("profile") or {})
    blocks += _runtime_notes(run)
    blocks += _validity(run)
    return text(blocks)


def render_markdown(run: dict[str, Any]) -> str:
    """The figures a reader quotes, for docs/figures/bench.md. The machine and the commit are in the
    stamp line above it; the profiles stay in the terminal (they explain, and vary run to run)."""
    summary, memory = run["summary"], run["meta"]["memory_mb"]
    blocks: list[Block] = [
        Note(f"{label}: {value}") for label, value in _context(run) if label not in ("machine", "code")
    ]
    blocks += [Heading(LOOPBACK), *loopback_blocks(run)]
    latency = latency_blocks(summary.get("latency") or {}, memory)
    if latency:
        blocks += [Heading("With latency"), *latency]
    snapstart = _snapstart(summary.get("snapstart") or {})
    if snapstart:
        blocks += [Heading("SnapStart by numbers"), *snapstart]
    blocks += _targets(summary["targets"])
    blocks += _validity(run)
    return markdown(blocks)


def _context(run: dict[str, Any]) -> list[tuple[str, str]]:
    meta, build = run["meta"], run["build"]
    machine = meta["machine"]
    return [
        ("command", meta["command"]),
        (
            "machine",
            f"Python {machine['python']} ({machine['implementation']}) on {machine['platform']}, "
            f"{machine['cpu_count']} CPUs ({machine['cpu_model']}), load avg {machine['load_start']} at start",
        ),
        ("code", meta["git"]),
        (
            "artefacts",
            f"layer {megabytes(build['layer']['bytes'])} unzipped, {megabytes(build['layer']['zip_bytes'])} zipped "
            f"({build['layer']['files']} files, {'bytecode shipped' if build['compiled'] else 'no bytecode'}); "
            f"function {build['function']['bytes']:,} B; baseline {megabytes(build['baseline']['bytes'])}, "
            f"floor {megabytes(build.get('floor', {}).get('bytes', 0))} unzipped",
        ),
        (
            "memory",
            f"{meta['memory_mb']} MB (template.yaml, IngestFunction) unless a line says otherwise; "
            f"wheels for {meta['build_platform']}",
        ),
        (
            "servers",
            "moto (DynamoDB, Secrets Manager) and the Twilio emulator in the parent, on loopback, "
            + ("TCP_NODELAY set" if meta.get("loopback_tcp_nodelay") else "Nagle left on (--nagle)"),
        ),
        (
            "subjects",
            "bridge = functions/ingest + layer; floor = the least an exactly-once handler does "
            "(claim || read, POST, save); baseline = read + POST, no idempotency",
        ),
    ]


# -- SnapStart, targets, validity ------------------------------------------------------------------------


def _snapstart(model: dict[str, Any]) -> list[Block]:
    if not model:
        return []
    added = ", ".join(f"{int(n):,}: {usd(cost)}" for n, cost in model["added_per_month"].items())
    break_even = model["break_even_cold_starts_per_month"]
    return [
        GAP,
        Title(
            f"SnapStart by numbers at {model['memory_mb']} MB ({model['source']}; prices recorded "
            f"{SNAPSTART_PRICES_AS_OF}, on-demand Init billed as duration since {INIT_BILLED_SINCE})"
        ),
        Note(
            f"SnapStart: cache {usd(model['cache_per_month'])} a month + restore "
            f"{usd(model['restore_per_cold_start'])} "
            f"per cold start, in place of a billed Init of {model['init_ms']:,.0f} ms "
            f"({usd(model['init_billed_per_cold_start'])}); one provisioned environment: "
            f"{usd(model['provisioned_per_month'])} a month"
        ),
        Note(f"added per month over doing nothing, by cold starts a month: {added}"),
        Note(
            "cheaper than one provisioned environment (which only helps while one environment carries the traffic) "
            f"below {break_even:,.0f} cold starts a month; never cheaper than doing nothing unless Init bills over "
            f"{model['init_ms_to_pay_back']:,.0f} ms"
        ),
        Note(
            f"per cold start it removes the Init, {model['init_ms']:,.0f} ms modelled here, and adds the restore's "
            "own duration, which only Lambda can measure (counted as 0 ms and $0 above)"
        ),
    ]


def _targets(targets: list[dict[str, Any]]) -> list[Block]:
    rows = [
        # Three decimals: at two, 1.104 reads "1.10x <= 1.10x MISS".
        [t["target"], t["phase"], times(t["value"], digits=3), f"<= {t['limit']:.2f}x", "pass" if t["met"] else "MISS"]
        for t in targets
    ]
    return [
        GAP,
        Heading("Targets (issue 24: the bridge against the exactly-once floor)"),
        Table(["target", "phase", "measured", "target", "result"], rows),
    ]


def _runtime_notes(run: dict[str, Any]) -> list[Block]:
    blocks: list[Block] = []
    origins = run.get("runtime_origins") or {}
    shadowed = sorted(name for name, where in origins.items() if where != "runtime")
    if origins:
        blocks += [
            GAP,
            Title(
                "Runtime packages (boto3's closure, provided by Lambda in /var/runtime) the bridge loaded from "
                f"its layer instead: {', '.join(shadowed) or 'none'}"
            ),
        ]
    conflicts = run["build"].get("pip_conflicts")
    if conflicts:
        blocks += [GAP, Title("pip's resolver notes for the layer (the layer's copies shadow the runtime's):")]
        blocks += [Note(line) for line in conflicts]
    return blocks


def _validity(run: dict[str, Any]) -> list[Block]:
    return [
        GAP,
        Title(f"valid: {'yes' if run['valid'] else 'NO'}"),
        *(Note(f"invalid because: {reason}") for reason in run["invalid_reasons"]),
    ]
