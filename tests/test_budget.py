"""The budget shared in Redis: its script, its keys, and the bound it keeps.

Every client here has its own Redis connection and its own budget object,
as separate workers would.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from typing import Any

import pytest
import redis.asyncio
from redis_server import RedisServer, Unavailable

from harvester.budget.leases import counted_span
from harvester.budget.shared import KEY_PREFIX, SharedBudget
from harvester.limits import Grants

SITE = "https://esm.example.com"


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    try:
        running = RedisServer.start()
    except Unavailable as reason:
        pytest.skip(f"no Redis server: {reason}")
    yield running
    running.stop()


@pytest.fixture
async def inspect(server: RedisServer) -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis.from_url(server.url)
    await client.flushall()
    yield client
    await client.aclose()


async def test_the_script_grants_up_to_the_limit_then_says_how_long(
    server: RedisServer, inspect: redis.asyncio.Redis
) -> None:
    span = counted_span(1.0)
    budget = SharedBudget(server.url, SITE)
    async with budget:
        key = f"{KEY_PREFIX}:test:/bucket"
        answers = [await budget.lease(key, 10, span, 4) for _ in range(4)]
        log = await inspect.zrange(key, 0, -1, withscores=True)
        expiry_ms = await inspect.pttl(key)
    assert [tokens for tokens, _ in answers] == [4, 4, 2, 0]
    assert [wait for _, wait in answers[:3]] == [0, 0, 0]
    assert 0 < answers[3][1] <= span
    # One member per lease carrying its size, scored in microseconds.
    assert [member.split(b":")[0] for member, _ in log] == [b"4", b"4", b"2"]
    assert all(score > 1e15 for _, score in log)
    assert 0 < expiry_ms <= span * 1000


async def test_a_lease_leaves_the_count_once_its_span_has_passed(
    server: RedisServer, inspect: redis.asyncio.Redis
) -> None:
    span = counted_span(0.2)
    budget = SharedBudget(server.url, SITE)
    async with budget:
        key = f"{KEY_PREFIX}:test:/bucket"
        assert await budget.lease(key, 3, span, 3) == (3, 0.0)
        refused, wait = await budget.lease(key, 3, span, 1)
        await asyncio.sleep(wait)
        again = await budget.lease(key, 3, span, 3)
    assert refused == 0
    assert again == (3, 0.0)
    assert await inspect.zcard(key) == 1


async def test_runs_against_one_site_share_a_bucket_and_other_sites_do_not(
    server: RedisServer, inspect: redis.asyncio.Redis
) -> None:
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(SharedBudget(server.url, SITE))
        second = await stack.enter_async_context(SharedBudget(server.url, SITE))
        other = await stack.enter_async_context(
            SharedBudget(server.url, "https://esm.other.example.com")
        )
        one, two = first("/bucket", 10, 60.0), second("/bucket", 10, 60.0)
        for _ in range(5):
            await one.take()
            await two.take()
        # The two runs have spent the limit between them.
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await two.take()
        await other("/bucket", 10, 60.0).take()
    keys = sorted(key.decode() for key in await inspect.keys("*"))
    assert len(keys) == 2
    assert all(key.startswith(f"{KEY_PREFIX}:") for key in keys)
    assert all(key.endswith(":/bucket") for key in keys)


def max_in_window(times: list[float], period: float) -> int:
    """The most takes in any half-open window [t, t + period)."""
    times = sorted(times)
    most, first = 0, 0
    for last, moment in enumerate(times):
        while times[first] <= moment - period:
            first += 1
        most = max(most, last - first + 1)
    return most


Pattern = Callable[[Grants, list[float], float], Awaitable[Any]]


async def take(grants: Grants, taken: list[float]) -> None:
    await grants.take()
    taken.append(time.monotonic())


async def backlog(grants: Grants, taken: list[float], until: float) -> None:
    """Eight workers, each sending again the moment it may."""

    async def worker() -> None:
        while time.monotonic() < until:
            await take(grants, taken)

    async with asyncio.TaskGroup() as group:
        for _ in range(8):
            group.create_task(worker())


async def bursts(grants: Grants, taken: list[float], until: float) -> None:
    """Fifteen at once, every 0.3 s."""
    while time.monotonic() < until:
        async with asyncio.TaskGroup() as group:
            for _ in range(15):
                group.create_task(take(grants, taken))
        await asyncio.sleep(0.3)


async def idle_then_burst(grants: Grants, taken: list[float], until: float) -> None:
    """Quiet for a second, then sixty at once."""
    await asyncio.sleep(1.0)
    async with asyncio.TaskGroup() as group:
        for _ in range(60):
            group.create_task(take(grants, taken))


async def hammer(
    url: str, patterns: list[Pattern], limit: int, period: float, seconds: float
) -> list[float]:
    """Each pattern run by its own client on one bucket; every take's time."""
    taken: list[float] = []
    until = time.monotonic() + seconds
    async with AsyncExitStack() as stack, asyncio.TaskGroup() as group:
        for pattern in patterns:
            budget = await stack.enter_async_context(SharedBudget(url, SITE))
            grants = budget("/bucket", limit, period)
            group.create_task(pattern(grants, taken, until))
    return taken


@pytest.mark.parametrize(("limit", "period"), [(40, 0.5), (100, 1.0)])
async def test_no_window_holds_more_than_the_limit_whatever_the_arrivals(
    server: RedisServer, inspect: redis.asyncio.Redis, limit: int, period: float
) -> None:
    patterns: list[Pattern] = [backlog, bursts, idle_then_burst, backlog]
    taken = await hammer(server.url, patterns, limit, period, seconds=3.0)
    assert len(taken) > 3 * limit
    assert max_in_window(taken, period) <= limit


async def test_a_standing_backlog_uses_most_of_the_budget(
    server: RedisServer, inspect: redis.asyncio.Redis
) -> None:
    limit, period = 100, 1.0
    taken = sorted(await hammer(server.url, [backlog] * 3, limit, period, seconds=5.0))
    # n takes need at least floor((n - 1) / limit) periods under a sliding
    # window: the share of the time they took is the share of the budget
    # used. Counted past the first window, which may find the log partly
    # spent. A standing backlog keeps period / counted span (97%) at best.
    steady = [moment for moment in taken if moment >= taken[0] + period]
    least = (len(steady) - 1) // limit * period
    used = least / (steady[-1] - steady[0])
    print(f"standing backlog: {used:.1%} of the limit")
    assert max_in_window(taken, period) <= limit
    assert used >= 0.8
