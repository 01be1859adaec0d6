"""The burst's report (what the command prints and docs/figures/burst.md holds) and the capacity page's
figures (docs/figures/capacity.md), each from one list of blocks laid out as text or Markdown."""

from __future__ import annotations

import math
from typing import Any

from bench.burst import capacity as model
from bench.tables import Block, Heading, Note, Table, Title, num, usd

# Issue 24's goals for a burst of at least 10x the emulated Twilio limit, while storage is up.
GOAL_OFFERED = 10.0


def goals(run: dict[str, Any]) -> list[tuple[str, bool]]:
    """Each goal, and whether this run met it."""
    figures, offered = run["figures"], run["load"]["offered_x"]
    in_time = figures["lost"] == 0 and figures["still_parked"] == 0 and figures["late"] == 0
    return [
        (f"offered load at least {GOAL_OFFERED:g}x the Twilio limit ({offered:.1f}x)", offered >= GOAL_OFFERED),
        (f"0 lost ({figures['lost']})", figures["lost"] == 0),
        (f"0 duplicates at Twilio ({figures['duplicates_at_twilio']})", figures["duplicates_at_twilio"] == 0),
        (f"0 sender-visible 5xx ({figures['sender_5xx']})", figures["sender_5xx"] == 0),
        ("every accepted event delivered in its window or in the ledger", in_time),
        (f"the run within 5 minutes ({run['wall_seconds']:.0f} s)", run["wall_seconds"] < 300),
    ]


def blocks(run: dict[str, Any]) -> list[Block]:
    load, figures, twilio = run["load"], run["figures"], run["figures"]["twilio"]
    out: list[Block] = [
        Note(
            f"load: {load['events']:,} signed events in {load['seconds']:g} s ({load['per_second']:.0f}/s) across "
            f"{load['calls']} live calls registered by Twilio's status callbacks; {load['no_one']:.0%} concern no one "
            f"(Stripe, no agent), {load['duplicates']:.0%} sent twice"
        ),
        Note(
            f"Twilio (the emulator): at most {load['twilio_limit']} "
            f"request{'' if load['twilio_limit'] == 1 else 's'} in flight, each UDM answered after "
            f"{load['twilio_ms']:g} ms, 429 with Retry-After: {load['retry_after']} beyond; offered load "
            f"{load['offered_x']:.1f}x the limit (events/s x round trip / limit)"
        ),
        Note(
            f"bridge: the template's settings but MaxHoldSeconds {load.get('hold_seconds', 300)}, so that what Twilio "
            "could not take in time reaches the ledger within the run"
        ),
        Note(
            f"senders: a non-2xx, a timeout ({load['sender_timeout']:g} s) or no connection is retried on Svix's "
            f"schedule divided by {load['retry_compression']:g}, {load['sender_attempts']} attempts in all"
        ),
        Heading("What the senders saw"),
        Table(
            ["answer", "sends"],
            [[name, f"{count:,}"] for name, count in figures["answers"].items()],
        ),
        Note(
            "sends: "
            + ", ".join(f"{count:,} {name}" for name, count in figures["sends"].items())
            + "; by class: "
            + ", ".join(f"{name} {count:,}" for name, count in figures["answer_classes"].items())
        ),
        Heading("What became of the events"),
        Table(["events", "count"], _fates(figures)),
        Note(
            f"duplicates at Twilio {figures['duplicates_at_twilio']}, on the wrong call {figures['misdelivered']}, "
            f"messages for no planned event {figures['foreign_udms']}, "
            f"delivered and ledgered {figures['delivered_and_ledgered']}"
        ),
        Table(
            ["time to the UDM", "events", "p50 ms", "p99 ms", "max ms"],
            [
                ["from the accepted send", *_latency(figures["accept_to_udm_ms"])],
                ["from the first send", *_latency(figures["offer_to_udm_ms"])],
            ],
        ),
        Heading("Twilio"),
        Table(TWILIO_COLUMNS, [_twilio_row(run["twilio_stats"], twilio)]),
        Note(
            f"a slot carries at most one request per round trip: {twilio['slot_max_per_second']:.2f}/s "
            f"at {load['twilio_ms']:g} ms"
        ),
        Heading("Functions"),
        Table(
            ["function", "limit", "peak", "invocations", "throttled", "containers", "busy s"],
            [[name, *_function_row(stats)] for name, stats in run["functions"].items()],
        ),
        Note("throttled: invocations the function's concurrency refused (API Gateway answers those 500)"),
        *_machine_notes(run),
        Heading("Goals"),
        Table(["goal", "met"], [[goal, "yes" if met else "no"] for goal, met in goals(run)]),
    ]
    out += [Note(line) for line in run.get("invalid_reasons", [])]
    return out


def _machine_notes(run: dict[str, Any]) -> list[Block]:
    """Where this machine's two cores went while the burst ran and settled: moto stands in for
    DynamoDB on one of them, so storage here slows under load as DynamoDB does not."""
    spent = run.get("process_cpu_seconds")
    if not spent:
        return []
    window = run["phases"]["burst"] + run["phases"]["settle"]
    shares = ", ".join(f"{name} {seconds / window:.0%}" for name, seconds in spent.items())
    notes = [Note(f"CPU over the burst and the settling ({window:.0f} s), of one core each: {shares}")]
    if pauses := run.get("collections"):
        longest = ", ".join(f"{name} {found['max_ms']:,.0f} ms" for name, found in pauses.items())
        notes.append(Note(f"longest garbage collector pause over the run (bench/burst/collector.py): {longest}"))
    return notes


TWILIO_COLUMNS = (
    "UDM requests",
    "created",
    "replayed",
    "429s",
    "peak in flight",
    "sustained /s",
    "busiest 10 s /s",
    "per slot /s",
    "slot use",
)


def _twilio_row(stats: dict[str, int], twilio: dict[str, float]) -> list[str]:
    use = twilio["slot_use"]
    return [
        f"{stats['udm_requests']:,}",
        f"{stats['udm_created']:,}",
        f"{stats['udm_replayed']:,}",
        f"{stats['throttled']:,}",
        str(stats["peak_in_flight"]),
        num(twilio["sustained_per_second"]),
        num(twilio["busiest_per_second"]),
        num(twilio["per_slot_per_second"], 2),
        "n/a" if math.isnan(use) else f"{use:.0%}",
    ]


def _function_row(stats: dict[str, float]) -> list[str]:
    counts = [f"{int(stats[name]):,}" for name in ("limit", "peak", "invocations", "throttled", "containers")]
    return [*counts, num(stats["busy_seconds"])]


def _fates(figures: dict[str, Any]) -> list[list[str]]:
    rows = [
        ["offered", figures["events"]],
        ["concerned no one (200 ignored)", figures["ignored"]],
        ["accepted (200 delivered or stale, 202 parked)", figures["accepted"]],
        ["  delivered", figures["delivered"]],
        ["    in the request", figures["delivered_in_request"]],
        ["    after it (the flusher)", figures["delivered"] - figures["delivered_in_request"]],
        ["    after the expires_at its 202 named", figures["late"]],
        *[[f"  in the ledger: {reason}", count] for reason, count in sorted(figures["ledgered"].items())],
        ["  still parked at the end", figures["still_parked"]],
        ["  lost", figures["lost"]],
        ["never accepted (the senders gave up)", figures["gave_up"]],
    ]
    return [[label, f"{count:,}"] for label, count in rows]


def _latency(summary: dict[str, Any]) -> list[str]:
    return [f"{summary['count']:,}", num(summary["p50"], 0), num(summary["p99"], 0), num(summary["max"], 0)]


# -- capacity ------------------------------------------------------------------------------------------


def capacity_blocks(run: dict[str, Any]) -> list[Block]:
    found, calibration = run["capacity"], run["calibration"]
    unit, rates = found["per_event"], found["rates"]
    reference = f"{found['reference_twilio_ms']:g} ms"
    busy = ", ".join(
        f"{name.removesuffix('Function')} {value * 1000:.1f} ms" for name, value in unit["seconds"].items()
    )
    per_slot = found["per_slot_per_second"]
    out: list[Block] = [
        Note(
            f"calibration: {calibration['events']} events in {calibration['seconds']:g} s to the live calls, Twilio "
            f"answering in {reference} with no limit; per event: Lambda busy {busy}; {unit['requests']:.2f} HTTP "
            f"requests, {unit['invocations']:.2f} invocations, {unit['wru']:.2f} write and {unit['rru']:.2f} read "
            f"request units, {unit['udms']:.2f} messages; {unit['memory_mb']} MB functions"
        ),
        Note(
            "per Twilio concurrency slot while Twilio throttled the burst: not measured (no message was created)"
            if math.isnan(per_slot)
            else f"per Twilio concurrency slot while Twilio throttled the burst: {found['slot_use']:.0%} of its one "
            f"request per round trip, so {per_slot:.2f} messages a second at {reference}"
        ),
        Title("Needed at each rate (concurrency: Little's law; reserve and slots: mean + 3 x sqrt(mean))"),
        Table(CAPACITY_COLUMNS, [_capacity_row(row) for row in rates]),
    ]
    out += [Note(f"{row['rate']:,} events/s: " + "; ".join(row["settings"])) for row in rates]
    costs = rates[-1]["cost"]
    parts = ", ".join(f"{name.replace('_', ' ')} {usd(value)}" for name, value in costs.items() if name != "total")
    out.append(
        Note(
            f"$ per million at {rates[-1]['rate']:,}/s: {parts}; us-east-1 list prices recorded "
            f"{found['prices_as_of']} (bench/cost_model.py, bench/burst/capacity.py); HTTP API requests are "
            "cheaper past 300 million a month; not included: Secrets Manager, CloudWatch Logs, data transfer"
        )
    )
    out.append(
        Note(
            f"quotas: Lambda {model.LAMBDA_ACCOUNT_CONCURRENCY:,} concurrent executions an account, "
            f"{model.LAMBDA_UNRESERVED_MINIMUM} left unreserved, {model.LAMBDA_SCALING_PER_10_SECONDS:,} more "
            f"environments a function every 10 s; API Gateway {model.API_GATEWAY_ACCOUNT_RPS:,} requests/s "
            f"(burst {model.API_GATEWAY_ACCOUNT_BURST:,}) an account, this API's routes {found['route_limit']:g}/s; "
            f"DynamoDB on demand {model.DYNAMODB_NEW_TABLE_WRU:,} writes/s on a new table, "
            f"{model.DYNAMODB_TABLE_WRU:,} WRU/s a table, {model.DYNAMODB_PARTITION_WRU:,} a key"
        )
    )
    return out


CAPACITY_COLUMNS = (
    "events/s",
    "ingest mean",
    "ingest reserve",
    "flusher mean",
    "Twilio slots",
    "API req/s",
    "WRU/s",
    "RRU/s",
    "$ per million",
)


def _capacity_row(row: dict[str, Any]) -> list[str]:
    mean = row["concurrency_mean"]
    return [
        f"{row['rate']:,}",
        num(mean.get("IngestFunction", 0.0)),
        f"{row['ingest_reserved']:,}",
        num(mean.get("FlushFunction", 0.0)),
        f"{row['twilio_slots']:,}",
        f"{row['requests_per_second']:,.0f}",
        f"{row['wru_per_second']:,.0f}",
        f"{row['rru_per_second']:,.0f}",
        usd(row["cost"]["total"]),
    ]
