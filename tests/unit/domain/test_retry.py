"""The retry budget: attempts, backoff with full jitter, Retry-After, and the deadline."""

from __future__ import annotations

import random

import pytest

from bridge.domain.retry import BudgetExhausted, Deadline, RetryPolicy, Transient, retry_after_seconds, run_with_retries


class Clock:
    """A Lambda deadline that moves only when the code sleeps or an attempt takes time."""

    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms
        self.sleeps: list[float] = []

    def remaining(self) -> int:
        return self.remaining_ms

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.remaining_ms -= int(seconds * 1000)


def failing(clock: Clock, results: list[object], cost_ms: int = 0):  # type: ignore[no-untyped-def]
    timeouts: list[float] = []

    def attempt(timeout: float) -> str:
        timeouts.append(timeout)
        clock.remaining_ms -= cost_ms
        result = results.pop(0)
        if isinstance(result, Exception):
            raise result
        return str(result)

    return attempt, timeouts


def test_success_on_first_attempt_does_not_sleep() -> None:
    clock = Clock(10_000)
    attempt, _ = failing(clock, ["ok"])
    assert run_with_retries(attempt, RetryPolicy(), Deadline(clock.remaining), sleep=clock.sleep) == "ok"
    assert clock.sleeps == []


def test_transient_failures_are_retried_up_to_max_attempts() -> None:
    clock = Clock(10_000)
    attempt, timeouts = failing(clock, [Transient("429"), Transient("500"), Transient("503")])
    with pytest.raises(BudgetExhausted) as raised:
        run_with_retries(attempt, RetryPolicy(max_attempts=3), Deadline(clock.remaining), sleep=clock.sleep)
    assert len(timeouts) == 3
    assert raised.value.attempts == 3
    assert len(clock.sleeps) == 2


def test_non_transient_errors_are_not_retried() -> None:
    clock = Clock(10_000)
    attempt, timeouts = failing(clock, [ValueError("permanent"), "never"])
    with pytest.raises(ValueError, match="permanent"):
        run_with_retries(attempt, RetryPolicy(), Deadline(clock.remaining), sleep=clock.sleep)
    assert len(timeouts) == 1


def test_backoff_is_full_jitter_under_an_exponential_ceiling() -> None:
    policy = RetryPolicy(base_delay=0.1, max_delay=2.0)
    rng = random.Random(7)
    for failed in range(1, 8):
        ceiling = min(2.0, 0.1 * 2 ** (failed - 1))
        delays = [policy.delay(failed, None, rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # the whole range is used, not a fixed step


def test_retry_after_is_a_floor_on_the_pause() -> None:
    policy = RetryPolicy(base_delay=0.1, max_delay=2.0)
    assert all(policy.delay(1, 1.5, random.Random(i)) >= 1.5 for i in range(50))


def test_attempt_timeout_shrinks_to_the_time_left() -> None:
    # Given 2.5 s left and a 1 s reserve for answering
    clock = Clock(2_500)
    attempt, timeouts = failing(clock, ["ok"])

    run_with_retries(attempt, RetryPolicy(attempt_timeout=4.0), Deadline(clock.remaining, reserve=1.0))

    # Then the attempt may take 1.5 s, not the configured 4 s
    assert timeouts == [pytest.approx(1.5)]


def test_no_attempt_starts_without_enough_time() -> None:
    clock = Clock(1_100)
    attempt, timeouts = failing(clock, ["never"])
    with pytest.raises(BudgetExhausted) as raised:
        run_with_retries(attempt, RetryPolicy(min_attempt=0.3), Deadline(clock.remaining, reserve=1.0))
    assert timeouts == []
    assert raised.value.attempts == 0


def test_a_retry_after_longer_than_the_budget_is_capped_at_it_instead_of_giving_up() -> None:
    # Given a receiver asking for 100,000 s with 5 s left, and answering the next attempt
    clock = Clock(5_000)
    attempt, timeouts = failing(clock, [Transient("429", retry_after=100_000), "ok"])

    # When it is retried
    result = run_with_retries(
        attempt, RetryPolicy(min_attempt=0.3), Deadline(clock.remaining, reserve=0.0), sleep=clock.sleep
    )

    # Then it waited as long as the budget allows, leaving one attempt's minimum, and tried again
    assert result == "ok"
    assert clock.sleeps == [pytest.approx(4.7)]
    assert timeouts[1] == pytest.approx(0.3)


def test_after_a_capped_wait_the_attempt_is_the_last_and_the_sender_hears_the_servers_wait() -> None:
    # Given a server that asks for 60 s every time, with 4 s of budget and attempts to spare
    clock = Clock(5_000)
    attempt, timeouts = failing(clock, [Transient("429", retry_after=60)] * 2 + ["never"])
    with pytest.raises(BudgetExhausted) as raised:
        run_with_retries(attempt, RetryPolicy(max_attempts=5), Deadline(clock.remaining), sleep=clock.sleep)

    # Then it waits once, as long as it may, tries once more, and stops: no burst at the deadline
    assert len(clock.sleeps) == 1
    assert len(timeouts) == 2
    assert raised.value.retry_after_seconds == 60


def test_no_pause_is_taken_when_no_attempt_could_follow_it() -> None:
    # Given 0.5 s to work with, and a first attempt that takes 0.3 s of it
    clock = Clock(1_500)
    attempt, timeouts = failing(clock, [Transient("429", retry_after=60), "never"], cost_ms=300)
    with pytest.raises(BudgetExhausted):
        run_with_retries(
            attempt, RetryPolicy(min_attempt=0.3), Deadline(clock.remaining, reserve=1.0), sleep=clock.sleep
        )
    # Then 0.2 s is too little for another attempt: it neither waits nor tries again
    assert clock.sleeps == []
    assert timeouts == [pytest.approx(0.5)]


def test_a_retry_after_within_the_budget_is_honoured_in_full() -> None:
    clock = Clock(10_000)
    attempt, _ = failing(clock, [Transient("429", retry_after=3), "ok"])
    run_with_retries(attempt, RetryPolicy(max_delay=0.001), Deadline(clock.remaining), sleep=clock.sleep)
    assert clock.sleeps == [3]


def test_the_answer_always_leaves_the_reserve() -> None:
    # Given slow attempts that fail after 1.2 s, or at their timeout if that is sooner
    clock = Clock(4_000)
    started_with: list[int] = []

    def slow(timeout: float) -> str:
        started_with.append(clock.remaining_ms)
        clock.remaining_ms -= int(min(1.2, timeout) * 1000)
        raise Transient("timeout")

    # When the budget runs out
    with pytest.raises(BudgetExhausted):
        run_with_retries(slow, RetryPolicy(max_attempts=10), Deadline(clock.remaining, reserve=1.0), sleep=clock.sleep)

    # Then several attempts were made, and the reserve for the answer was never touched
    assert len(started_with) >= 2
    assert clock.remaining_ms >= 1_000


def test_retry_after_for_the_sender_is_at_least_one_second() -> None:
    assert BudgetExhausted(None, 0).retry_after_seconds == 1
    assert BudgetExhausted(Transient("x", retry_after=0.2), 1).retry_after_seconds == 1
    assert BudgetExhausted(Transient("x", retry_after=2.5), 1).retry_after_seconds == 3


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("3", 3.0), ("0.5", 0.5), ("-4", None), (None, None), ("soon", None), ("٣", None), ("+5", None)],
)
def test_retry_after_header_is_read_in_seconds(header: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(header) == seconds


def test_retry_after_as_an_http_date_is_the_seconds_until_then() -> None:
    now = 1_793_172_480.0  # Wed, 28 Oct 2026 07:28:00 GMT
    assert retry_after_seconds("Wed, 28 Oct 2026 07:28:30 GMT", now=lambda: now) == 30.0
    assert retry_after_seconds("Wed, 28 Oct 2026 07:27:00 GMT", now=lambda: now) == 0.0


def test_a_policy_that_does_not_wait_past_its_budget_stops_at_once_on_a_long_retry_after() -> None:
    clock = Clock(5_000)
    policy = RetryPolicy(max_attempts=3, attempt_timeout=1.0, wait_past_budget=False)
    attempt, _ = failing(clock, [Transient("429", retry_after=60)] * 3)
    with pytest.raises(BudgetExhausted) as raised:
        run_with_retries(attempt, policy, Deadline(clock.remaining, reserve=1.0), sleep=clock.sleep)
    assert raised.value.attempts == 1
    assert clock.sleeps == []
