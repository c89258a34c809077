from __future__ import annotations

import asyncio
from collections import deque

import pytest

from harvester.limits import Bucket


def max_in_window(stamps: list[float], window: float) -> int:
    recent: deque[float] = deque()
    most = 0
    for stamp in stamps:
        recent.append(stamp)
        while recent[0] <= stamp - window:
            recent.popleft()
        most = max(most, len(recent))
    return most


async def grants(bucket: Bucket, count: int, idle_after: int = 0) -> list[float]:
    """Grant times of `count` requests sent at once; with `idle_after`, the
    first batch drains, the bucket idles past a whole window, then the rest
    arrive at once."""
    loop = asyncio.get_running_loop()
    stamps: list[float] = []

    async def one() -> None:
        async with bucket.slot():
            stamps.append(loop.time())

    first = idle_after or count
    await asyncio.gather(*(one() for _ in range(first)))
    if idle_after:
        await asyncio.sleep(bucket.period * 1.2)
        await asyncio.gather(*(one() for _ in range(count - first)))
    return sorted(stamps)


@pytest.mark.parametrize(("limit", "period"), [(40, 0.5), (200, 0.5), (3, 0.3)])
async def test_no_sliding_window_passes_more_than_the_limit(
    limit: int, period: float
) -> None:
    bucket = Bucket("/p", limit, period)
    stamps = await grants(bucket, limit * 3)
    assert max_in_window(stamps, period) <= limit
    assert bucket.counters.requests == limit * 3


async def test_idle_then_burst_keeps_the_bound() -> None:
    bucket = Bucket("/p", 50, 0.4)
    stamps = await grants(bucket, 150, idle_after=60)
    assert max_in_window(stamps, 0.4) <= 50


async def test_steady_state_uses_most_of_the_budget() -> None:
    bucket = Bucket("/p", 400, 0.25)
    stamps = await grants(bucket, 1200)
    steady = stamps[-1] - stamps[0]
    # 1200 grants minus the burst at the configured rate.
    assert bucket.rate >= 0.97 * 400 / 0.25
    assert steady >= (1200 - bucket.burst) / bucket.rate * 0.95


async def test_backoff_pauses_the_bucket() -> None:
    bucket = Bucket("/p", 100, 1.0)
    loop = asyncio.get_running_loop()
    bucket.back_off(0.2)
    started = loop.time()
    async with bucket.slot():
        waited = loop.time() - started
    assert waited >= 0.19
    assert "paused" in repr(bucket)


def test_a_full_burst_limiter_would_fail_this_check() -> None:
    # The check itself can fail: 2N grants at once exceed N in a window.
    assert max_in_window([0.0] * 20, 1.0) == 20 > 10
