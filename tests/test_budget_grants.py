"""A bucket's leased grants in one process, against a scripted lease source."""

from __future__ import annotations

import asyncio
from collections import deque

import pytest

from harvester.budget.leases import LeasedGrants, counted_span, lease_ttl
from harvester.errors import BudgetError, SiteError


class Leases:
    """Answers lease requests from a script, counting them as Redis would."""

    def __init__(
        self, *answers: tuple[int, float] | BudgetError, delay: float = 0.005
    ) -> None:
        self.answers = deque(answers)
        self.delay = delay
        self.asked: list[int] = []
        self.in_flight = 0
        self.most_in_flight = 0

    async def lease(
        self, key: str, limit: int, span: float, want: int
    ) -> tuple[int, float]:
        self.asked.append(want)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            answer = self.answers.popleft() if self.answers else (want, 0.0)
            if isinstance(answer, BudgetError):
                raise answer
            return answer
        finally:
            self.in_flight -= 1


def grants(source: Leases, limit: int = 100, period: float = 1.0) -> LeasedGrants:
    return LeasedGrants(source, "bucket", limit, period)


async def test_tokens_of_an_expired_lease_are_dropped_not_spent() -> None:
    source = Leases((3, 0.0))
    bucket = grants(source)
    await bucket.take()
    await asyncio.sleep(2 * lease_ttl(1.0))
    await bucket.take()
    assert bucket.expired == 2
    assert len(source.asked) == 2


async def test_waiters_are_served_in_arrival_order_with_one_call_in_flight() -> None:
    # Nothing is free at first: every waiter queues behind the first.
    source = Leases((0, 0.02), (1, 0.0), (0, 0.01))
    bucket = grants(source)
    served: list[int] = []

    async def take(number: int) -> None:
        await bucket.take()
        served.append(number)

    async with asyncio.TaskGroup() as group:
        for number in range(20):
            group.create_task(take(number))
            await asyncio.sleep(0)
    assert served == list(range(20))
    assert source.most_in_flight == 1


async def test_a_lease_asks_for_what_is_waiting_up_to_the_cap() -> None:
    source = Leases()
    bucket = grants(source, limit=100)
    async with asyncio.TaskGroup() as group:
        for _ in range(30):
            group.create_task(bucket.take())
    assert bucket.cap == 5
    assert source.asked[0] == 5
    assert max(source.asked) == 5
    assert sum(source.asked) >= 30


async def test_an_idle_bucket_asks_for_one_token_and_no_more() -> None:
    source = Leases()
    bucket = grants(source, limit=4000)
    for _ in range(3):
        await bucket.take()
        await asyncio.sleep(2 * bucket.ttl)
    assert source.asked == [1, 1, 1]


async def test_a_busy_bucket_asks_for_the_next_lease_before_it_runs_out() -> None:
    source = Leases(delay=0.001)
    bucket = grants(source, limit=4000)
    asked_on_demand = 0
    for _ in range(300):
        before = len(source.asked)
        await bucket.take()
        # A lease asked for while a take waited: nothing was held in time.
        asked_on_demand += len(source.asked) - before
        await asyncio.sleep(0.0005)
    assert max(source.asked) > 1
    assert asked_on_demand < len(source.asked) / 2


async def test_once_redis_fails_nothing_more_is_granted() -> None:
    failure = BudgetError("127.0.0.1:6379", "ConnectionError: refused")
    source = Leases((3, 0.0), failure)
    bucket = grants(source)
    await bucket.take()
    await asyncio.sleep(2 * bucket.ttl)
    with pytest.raises(BudgetError, match=r"127\.0\.0\.1:6379"):
        await bucket.take()
    with pytest.raises(SiteError):
        await bucket.take()
    assert len(source.asked) == 2


async def test_tokens_held_are_dropped_when_redis_fails() -> None:
    # 40 waiters get a lease of 41. The one token left is too few for the
    # rate just measured, so the next lease is asked for, and that fails.
    failure = BudgetError("127.0.0.1:6379", "ConnectionError: refused")
    source = Leases((41, 0.0), failure)
    bucket = grants(source, limit=4000, period=50.0)
    async with asyncio.TaskGroup() as group:
        for _ in range(40):
            group.create_task(bucket.take())
    await asyncio.sleep(0.05)
    assert len(source.asked) == 2
    with pytest.raises(BudgetError):
        await bucket.take()


def test_the_lower_bound_lets_a_whole_limit_go_at_once() -> None:
    grants = LeasedGrants(Leases(), "k", 10, 1.0)
    span = counted_span(1.0)
    assert grants.estimate_seconds(0) == 0
    assert grants.estimate_seconds(10) == 0
    assert grants.estimate_seconds(11) == span
    assert grants.estimate_seconds(25) == 2 * span
