"""Capacity on paper: what 10, 100 and 1,000 events a second need, from the burst's measurements and
AWS's published quotas and prices.

Two measurements feed it. The calibration, a steady trickle before the burst with Twilio answering in
`REFERENCE_TWILIO_MS` (make bench's typical round trip) and no limit, gives what one event takes when
Twilio keeps up: each function's busy seconds, its invocations, the HTTP requests and the AWS
operations. The burst gives how many messages a second one Twilio concurrency slot carries while
Twilio throttles (`slot_use`: the share of a slot's one request per round trip the bridge got out of
it), which is what an account whose limit is below the rate can deliver, paced by the flusher.

Concurrency needed at a rate is Little's law (mean = rate x seconds per event) plus headroom for
Poisson arrivals: mean + 3 x sqrt(mean) covers about 99.9% of moments.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from bench.cost_model import (
    DYNAMODB_PER_MILLION_RRU,
    DYNAMODB_PER_MILLION_WRU,
    LAMBDA_ARM64_PER_GB_SECOND,
    LAMBDA_REQUESTS_PER_MILLION,
    PRICES_AS_OF,
)

RATES = (10, 100, 1000)
REFERENCE_TWILIO_MS = 150.0  # make bench's typical Twilio round trip
SECONDS_A_MONTH = 30 * 24 * 3600

# -- AWS's published quotas (defaults, per account and Region) ----------------------------------------
# https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
LAMBDA_ACCOUNT_CONCURRENCY = 1000
# https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html: reserved concurrency
# must leave at least 100 unreserved for the account's other functions.
LAMBDA_UNRESERVED_MINIMUM = 100
# https://docs.aws.amazon.com/lambda/latest/dg/scaling-behavior.html: each function scales by up to
# 1,000 execution environments every 10 seconds.
LAMBDA_SCALING_PER_10_SECONDS = 1000
# https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html: throttling across all APIs.
API_GATEWAY_ACCOUNT_RPS = 10_000
API_GATEWAY_ACCOUNT_BURST = 5_000
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/on-demand-capacity-mode.html: a new
# on-demand table sustains up to 4,000 writes and 12,000 reads a second, then twice its previous peak;
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html: 40,000 read and
# 40,000 write request units a second per table by default; a partition (one key) 1,000 WRU and 3,000 RRU.
DYNAMODB_NEW_TABLE_WRU = 4_000
DYNAMODB_NEW_TABLE_RRU = 12_000
DYNAMODB_TABLE_WRU = 40_000
DYNAMODB_PARTITION_WRU = 1_000

# -- prices not in bench/cost_model.py, us-east-1, recorded on PRICES_AS_OF ----------------------------
# https://aws.amazon.com/api-gateway/pricing/: HTTP APIs, $1.00 per million for the first 300 million
# requests a month, $0.90 after.
HTTP_API_TIERS = ((300e6, 1.00), (math.inf, 0.90))

_WRITES = ("PutItem", "UpdateItem", "DeleteItem")
_READS = ("GetItem", "Query")


def headroom(mean: float) -> int:
    """Concurrency that covers about 99.9% of moments when the mean is `mean` (Poisson arrivals)."""
    return 0 if mean <= 0 else math.ceil(mean + 3 * math.sqrt(mean))


def http_api_price(requests_a_month: float) -> float:
    """Dollars per million HTTP API requests, blended over the month's tiers."""
    if requests_a_month <= 0:
        return HTTP_API_TIERS[0][1]
    cost, floor = 0.0, 0.0
    for ceiling, price in HTTP_API_TIERS:
        cost += max(0.0, min(requests_a_month, ceiling) - floor) / 1e6 * price
        floor = ceiling
        if requests_a_month <= ceiling:
            break
    return cost / (requests_a_month / 1e6)


def per_event(run: Mapping[str, Any]) -> dict[str, Any]:
    """What one offered event took in the calibration. `run` holds: events, sends, delivered,
    memory_mb, functions ({name: {busy_seconds, invocations}}), operations ({X-Amz-Target: count})."""
    events = max(1, int(run["events"]))
    functions: Mapping[str, Mapping[str, float]] = run["functions"]
    operations: Mapping[str, int] = run["operations"]

    def count(service: str, names: Sequence[str]) -> float:
        found = (n for target, n in operations.items() if target.startswith(service) and target.split(".")[-1] in names)
        return sum(found) / events

    return {
        "seconds": {name: float(stats["busy_seconds"]) / events for name, stats in functions.items()},
        "udms": float(run["delivered"]) / events,
        "invocations": sum(float(stats["invocations"]) for stats in functions.values()) / events,
        "requests": float(run["sends"]) / events,
        # One request unit per operation: items within 4 KB (reads, consistent) and 1 KB (writes).
        "wru": count("DynamoDB_", _WRITES),
        "rru": count("DynamoDB_", _READS),
        "memory_mb": int(run["memory_mb"]),
    }


def cost_per_million(unit: Mapping[str, Any], rate: float) -> dict[str, float]:
    """Dollars per million offered events at `rate` events a second, all month. Not included, as in
    make bench's cost table: Secrets Manager (two reads per container every 5 minutes, whatever the
    rate), CloudWatch Logs and data transfer."""
    requests_a_month = rate * unit["requests"] * SECONDS_A_MONTH
    gb_seconds = sum(unit["seconds"].values()) * unit["memory_mb"] / 1024
    parts = {
        "http_api": unit["requests"] * http_api_price(requests_a_month),
        "lambda_requests": unit["invocations"] * LAMBDA_REQUESTS_PER_MILLION,
        "lambda_duration": gb_seconds * LAMBDA_ARM64_PER_GB_SECOND * 1e6,
        "dynamodb": unit["wru"] * DYNAMODB_PER_MILLION_WRU + unit["rru"] * DYNAMODB_PER_MILLION_RRU,
    }
    return {**parts, "total": sum(parts.values())}


def at_rate(unit: Mapping[str, Any], rate: float, route_limit: float, per_slot: float) -> dict[str, Any]:
    """What `rate` events a second need: concurrency per function, Twilio slots, DynamoDB units, the
    settings to change, and the cost per million."""
    concurrency = {name: rate * seconds for name, seconds in unit["seconds"].items()}
    ingest = headroom(concurrency.get("IngestFunction", 0.0))
    # Every message delivered at once holds a Twilio slot for one round trip.
    slots = headroom(rate * unit["udms"] * REFERENCE_TWILIO_MS / 1000.0)
    wru, rru = rate * unit["wru"], rate * unit["rru"]
    requests_per_second = rate * unit["requests"]
    settings = [f"IngestReservedConcurrency >= {ingest}"]
    if ingest + LAMBDA_UNRESERVED_MINIMUM > LAMBDA_ACCOUNT_CONCURRENCY:
        settings.append(f"a Lambda concurrency quota of at least {ingest + LAMBDA_UNRESERVED_MINIMUM}")
    if requests_per_second > route_limit:
        settings.append(f"the API's ThrottlingRateLimit >= {math.ceil(requests_per_second)}")
    if requests_per_second > API_GATEWAY_ACCOUNT_RPS:
        settings.append("an API Gateway throttling quota above 10,000 requests a second")
    if wru > DYNAMODB_NEW_TABLE_WRU or rru > DYNAMODB_NEW_TABLE_RRU:
        settings.append("warm throughput on the tables (a new on-demand table starts at 4,000 writes a second)")
    paced = f", else {per_slot:.1f} messages a second per slot it has, the rest parked" if per_slot == per_slot else ""
    settings.append(f"a Twilio concurrency limit of {slots}{paced} (the flusher's pace: the slots ingest leaves)")
    return {
        "rate": rate,
        "concurrency_mean": concurrency,
        "ingest_reserved": ingest,
        "flush_concurrency": headroom(concurrency.get("FlushFunction", 0.0)),
        "twilio_slots": slots,
        "requests_per_second": requests_per_second,
        "wru_per_second": wru,
        "rru_per_second": rru,
        "settings": settings,
        "cost": cost_per_million(unit, rate),
    }


def capacity(
    calibration: Mapping[str, Any], slot_use: float, route_limit: float, rates: Sequence[int] = RATES
) -> dict[str, Any]:
    unit = per_event(calibration)
    per_slot = slot_use * 1000.0 / REFERENCE_TWILIO_MS if slot_use > 0 else math.nan
    return {
        "reference_twilio_ms": REFERENCE_TWILIO_MS,
        "slot_use": slot_use,
        "per_slot_per_second": per_slot,
        "per_event": unit,
        "route_limit": route_limit,
        "prices_as_of": PRICES_AS_OF,
        "rates": [at_rate(unit, rate, route_limit, per_slot) for rate in rates],
    }
