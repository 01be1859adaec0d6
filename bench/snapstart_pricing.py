"""SnapStart by numbers: what it would add to the bill a month, against doing nothing and against one
provisioned-concurrency environment, from the Init the bench modelled."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from bench.cost_model import LAMBDA_ARM64_PER_GB_SECOND, modelled_init_ms
from bench.summaries import reference_point

# SnapStart and provisioned concurrency, us-east-1, recorded 2026-12-01. aws.amazon.com/lambda/pricing/
# renders its rates client-side, so the stored copy searched here shows none of them: the SnapStart
# rates are as quoted by https://awsnegotiations.com/blog/lambda-snapstart-cost-impact/ (May 2026) and
# the x86 provisioned rate by https://www.emnode.com/learn/lesson/right-size-lambda-provisioned-concurrency/;
# the arm64 provisioned rate is the x86 one less Graviton's 20%. Check the pricing page before quoting.
SNAPSTART_CACHE_PER_GB_SECOND = 0.0000015046  # per GB of the function's memory, while the version is active
SNAPSTART_RESTORE_PER_GB = 0.0001397998  # per GB of memory, each time an environment is restored
PROVISIONED_ARM64_PER_GB_SECOND = 0.0000033334  # one environment kept initialised, per GB, all month
SNAPSTART_PRICES_AS_OF = "2026-12-01"
SNAPSTART_PRICE_SOURCES = (
    "https://aws.amazon.com/lambda/pricing/",
    "https://awsnegotiations.com/blog/lambda-snapstart-cost-impact/",
    "https://www.emnode.com/learn/lesson/right-size-lambda-provisioned-concurrency/",
)
# Since 2025-08-01 Lambda bills the Init phase of on-demand ZIP functions on managed runtimes as duration
# (https://aws.amazon.com/blogs/compute/aws-lambda-standardizes-billing-for-init-phase/), so a cold start
# without SnapStart pays its Init at the duration rate; with SnapStart it pays a restore instead.
INIT_BILLED_SINCE = "2025-08-01"
SECONDS_PER_MONTH = 730 * 3600  # AWS's pricing month
SNAPSTART_COLD_STARTS = (1_000, 10_000, 100_000)  # cold starts a month to price SnapStart at


def snapstart(memory_mb: int, init_ms: float, cold_starts: Sequence[int] = SNAPSTART_COLD_STARTS) -> dict[str, Any]:
    """What SnapStart costs a month for a function of `memory_mb` whose Init takes `init_ms`.

    SnapStart: a cache charge per GB of memory for every second of the month, plus a restore charge
    per GB at each cold start, in place of the Init that on-demand now bills as duration. The restore's
    own billed duration is not known without Lambda and counts as 0 here. Against one provisioned
    environment (its charge per GB for the whole month) SnapStart is cheaper below `break_even` cold
    starts a month; against doing nothing it never saves dollars unless Init costs more than a restore,
    which takes an Init of `init_ms_to_pay_back` (the same at every memory size: both scale by GB).
    """
    gb = memory_mb / 1024
    cache_month = SNAPSTART_CACHE_PER_GB_SECOND * gb * SECONDS_PER_MONTH
    restore = SNAPSTART_RESTORE_PER_GB * gb
    init_billed = max(1, math.ceil(init_ms)) / 1000 * gb * LAMBDA_ARM64_PER_GB_SECOND
    extra_per_cold_start = restore - init_billed
    provisioned_month = PROVISIONED_ARM64_PER_GB_SECOND * gb * SECONDS_PER_MONTH
    if extra_per_cold_start <= 0:
        break_even = math.inf if provisioned_month > cache_month else 0.0
    else:
        break_even = max(0.0, (provisioned_month - cache_month) / extra_per_cold_start)
    return {
        "memory_mb": memory_mb,
        "init_ms": init_ms,
        "cache_per_month": cache_month,
        "restore_per_cold_start": restore,
        "init_billed_per_cold_start": init_billed,
        "extra_per_cold_start": extra_per_cold_start,
        "provisioned_per_month": provisioned_month,
        "break_even_cold_starts_per_month": break_even,
        "init_ms_to_pay_back": SNAPSTART_RESTORE_PER_GB / LAMBDA_ARM64_PER_GB_SECOND * 1000,
        "added_per_month": {n: cache_month + n * extra_per_cold_start for n in cold_starts},
    }


def snapstart_for(summary: dict[str, Any], memory_mb: int) -> dict[str, Any]:
    """The SnapStart model at `memory_mb`, its Init modelled from the reference latency's cold rounds
    (or the loopback ones when the latency phase did not run)."""
    point = reference_point(summary.get("latency") or {})
    cold = point["cold"] if point else summary["cold"]
    source = f"Init from the cold rounds at Twilio {point['twilio_ms']:g} ms" if point else "Init from loopback"
    return {**snapstart(memory_mb, modelled_init_ms(cold["bridge"], memory_mb)), "source": source}
