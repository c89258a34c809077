"""The bucket contract, driven in fake time over adversarial arrival patterns.

The loop's clock is `looptime`'s: timers fire in order without real
waiting, so hours of traffic are checked in milliseconds, exactly.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

import looptime
import pytest
from aiolimiter import AsyncLimiter
from hypothesis import given, settings
from hypothesis import strategies as st

from harvester.limits import Bucket

BUDGETS = [(60, 60.0), (10, 1.0), (200, 1.0), (1, 2.0), (4000, 1.0)]
# The largest budget takes tens of thousands of grants per example; it gets
# the fixed adversarial patterns below instead of generated ones.
GENERATED = BUDGETS[:-1]
# One batch: idle this many periods, then this many requests (as a share of
# the limit) at once, of which this share is sent again as a retry.
BATCH = st.tuples(st.floats(0, 2.5), st.floats(0.01, 2.5), st.floats(0, 1))


def max_in_window(stamps: list[float], window: float) -> int:
    """The most stamps in any half-open window `(t - window, t]`."""
    recent: deque[float] = deque()
    most = 0
    for stamp in sorted(stamps):
        recent.append(stamp)
        while recent[0] <= stamp - window:
            recent.popleft()
        most = max(most, len(recent))
    return most


def in_fake_time(drive: Callable[[], Awaitable[list[float]]]) -> list[float]:
    loop = looptime.new_event_loop()
    try:
        return loop.run_until_complete(drive())
    finally:
        loop.close()


def pattern_driver(
    bucket: Bucket, batches: list[tuple[float, float, float]]
) -> Callable[[], Awaitable[list[float]]]:
    async def drive() -> list[float]:
        loop = asyncio.get_running_loop()
        stamps: list[float] = []

        async def request(retried: bool) -> None:
            async with bucket.slot():
                stamps.append(loop.time())
            if retried:
                async with bucket.slot():
                    stamps.append(loop.time())

        tasks = []
        for idle, share, retry_share in batches:
            await asyncio.sleep(idle * bucket.period)
            size = max(1, round(share * bucket.limit))
            retries = round(size * retry_share)
            tasks += [asyncio.ensure_future(request(i < retries)) for i in range(size)]
        await asyncio.gather(*tasks)
        return stamps

    return drive


@pytest.mark.parametrize(("limit", "period"), GENERATED)
@settings(max_examples=25, deadline=None)
@given(batches=st.lists(BATCH, min_size=1, max_size=5))
def test_no_sliding_window_ever_passes_the_limit(
    limit: int, period: float, batches: list[tuple[float, float, float]]
) -> None:
    bucket = Bucket("/p", limit, period)
    stamps = in_fake_time(pattern_driver(bucket, batches))
    assert max_in_window(stamps, period) <= limit
    assert bucket.counters.requests == len(stamps)


@pytest.mark.parametrize(
    "batches",
    [[(0, 2.0, 0)], [(0, 0.5, 0), (1.5, 1.5, 0.3)], [(0, 1.0, 1.0), (0.4, 1.0, 0)]],
    ids=["burst", "idle-then-burst", "retries-mixed-in"],
)
def test_the_largest_budget_keeps_the_bound(
    batches: list[tuple[float, float, float]],
) -> None:
    bucket = Bucket("/p", 4000, 1.0)
    stamps = in_fake_time(pattern_driver(bucket, batches))
    assert max_in_window(stamps, 1.0) <= 4000


@pytest.mark.parametrize(("limit", "period"), BUDGETS)
def test_a_standing_backlog_uses_at_least_97_percent(limit: int, period: float) -> None:
    bucket = Bucket("/p", limit, period)
    windows = 5
    count = limit * windows + bucket.burst
    stamps = in_fake_time(pattern_driver(bucket, [(0, count / limit, 0)]))
    elapsed = stamps[-1] - stamps[0]
    used = (len(stamps) - bucket.burst) / elapsed if elapsed else float("inf")
    assert used >= 0.97 * limit / period
    assert max_in_window(stamps, period) <= limit


def test_backoff_pauses_the_bucket() -> None:
    bucket = Bucket("/p", 100, 1.0)

    async def drive() -> list[float]:
        loop = asyncio.get_running_loop()
        bucket.back_off(7.5)
        async with bucket.slot():
            return [loop.time()]

    assert in_fake_time(drive) == [pytest.approx(7.5)]
    assert "paused_until=" in repr(bucket)


def test_a_full_burst_limiter_fails_the_same_check() -> None:
    # The check can fail: a plain AsyncLimiter(N, W) passes about 2N in
    # its first window, as DESIGN.md measured.
    limiter = AsyncLimiter(50, 1.0)

    async def drive() -> list[float]:
        loop = asyncio.get_running_loop()
        stamps: list[float] = []

        async def one() -> None:
            async with limiter:
                stamps.append(loop.time())

        await asyncio.gather(*(one() for _ in range(150)))
        return stamps

    assert max_in_window(in_fake_time(drive), 1.0) > 50
