"""Buckets: one rate budget per endpoint path, kept as a contract.

The contract (DESIGN.md): in any sliding window of the documented length,
requests sent to one bucket never exceed its limit, retries included.

Two mechanisms keep it. A log of the last `limit` grant times holds it
exactly: a grant waits until the oldest of them is a whole window old,
the window being widened by a margin (1% of the period, at least 25 ms)
for requests that reach the site later than they were granted. In front
of the log, a reservation schedule (the generic cell rate algorithm: a
burst of 1% of the limit, then one request per `window / limit`) spreads
grants evenly, so requests do not leave in clumps a whole window apart,
where send-time jitter could push one clump into the next window as the
site counts it. Steady state uses
97.6% of the budget at 4000 a second and 99% at 60 a minute.

aiolimiter's leaky bucket is not used: it wakes waiters through a chain of
timers, each firing a little late, which at 60 a minute cost about half a
percent of the budget, and a full-size burst would admit nearly twice the
limit in the first window. Here each request works out its start once,
in arrival order, and sleeps once.

The grants come from a `Grants`: `LocalGrants` above for a process that
spends a bucket alone, or a cluster-wide budget that several processes
share.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

BURST_SHARE = 0.01
MARGIN_SHARE = 0.01
# A request may leave this long after its grant when the event loop or the
# process is held up: a 1% margin alone (10 ms at 4000 a second) was seen
# too short on a loaded machine, and requests arrived 4001 to a window.
MARGIN_FLOOR_S = 0.025
MAX_IN_FLIGHT = 64


def margin(period: float) -> float:
    """How much later than granted a request may reach the site, in seconds.

    Counting each grant for a window this much longer than the period
    keeps the site's own count within the limit.
    """
    return max(period * MARGIN_SHARE, MARGIN_FLOOR_S)


@dataclass(slots=True)
class BucketCounters:
    """What one bucket has done so far."""

    requests: int = 0
    retries: int = 0
    throttled: int = 0
    failures: int = 0


class Grants(Protocol):
    """Where a bucket's budget is kept: in this process, or shared by a cluster."""

    async def take(self) -> None:
        """Wait until one request may leave now, and count it as sent."""
        ...

    def estimate_seconds(self, requests: int) -> float:
        """The least time `requests` can take on this budget, alone."""
        ...


class LocalGrants:
    """The budget of a bucket that this process alone spends.

    Times are the running event loop's clock.
    """

    def __init__(self, limit: int, period: float) -> None:
        self.limit = limit
        self.burst = max(1, int(limit * BURST_SHARE))
        self.window = period + margin(period)
        self.rate = limit / self.window
        self._next_start = 0.0
        self._grants: deque[float] = deque(maxlen=limit)
        self._gate = asyncio.Lock()

    async def take(self) -> None:
        await self._reserve()
        async with self._gate:
            await self._admit()

    def estimate_seconds(self, requests: int) -> float:
        # The burst leaves at once, the rest at the schedule's rate.
        return max(0, requests - self.burst) / self.rate

    async def _reserve(self) -> None:
        # The start is the reservation's theoretical arrival time, less the
        # burst's tolerance; reservations are taken in arrival order.
        loop = asyncio.get_running_loop()
        now = loop.time()
        interval = 1 / self.rate
        self._next_start = max(self._next_start, now)
        start = max(now, self._next_start - (self.burst - 1) * interval)
        self._next_start += interval
        if start > now:
            await asyncio.sleep(start - now)

    async def _admit(self) -> None:
        loop = asyncio.get_running_loop()
        if len(self._grants) == self.limit:
            wait = self._grants[0] + self.window - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
        self._grants.append(loop.time())


GrantsFactory = Callable[[str, int, float], Grants]


def local_grants(path: str, limit: int, period: float) -> Grants:
    """The in-process budget of one bucket."""
    return LocalGrants(limit, period)


class Bucket:
    """The budget, concurrency and backoff state of one endpoint path.

    Times are the running event loop's clock.
    """

    def __init__(
        self, path: str, limit: int, period: float, grants: Grants | None = None
    ) -> None:
        self.path = path
        self.limit = limit
        self.period = period
        self.burst = max(1, int(limit * BURST_SHARE))
        self.rate = limit / (period + margin(period))
        self.counters = BucketCounters()
        self._grants = grants or LocalGrants(limit, period)
        self._in_flight = asyncio.Semaphore(min(MAX_IN_FLIGHT, limit))
        self._resume_at = 0.0

    def __repr__(self) -> str:
        return (
            f"<Bucket {self.path} {self.limit}/{self.period:g}s "
            f"rate={self.rate:.2f}/s burst={self.burst} "
            f"requests={self.counters.requests} throttled={self.counters.throttled} "
            f"paused_until={self._resume_at:.2f}>"
        )

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold a place in flight and one grant of the budget.

        The place is taken before the grant so that a grant is spent at
        once: one left waiting for a connection would leave later than the
        budget says it did.
        """
        async with self._in_flight:
            await self._wait_out_backoff()
            await self._grants.take()
            self.counters.requests += 1
            yield

    def back_off(self, seconds: float) -> None:
        """Send nothing to this bucket for `seconds` (a 429 was answered)."""
        now = asyncio.get_running_loop().time()
        self._resume_at = max(self._resume_at, now + seconds)

    def estimate_seconds(self, requests: int) -> float:
        """The least time `requests` need on this bucket's budget."""
        return self._grants.estimate_seconds(requests)

    async def _wait_out_backoff(self) -> None:
        loop = asyncio.get_running_loop()
        # A loop, not one sleep: another 429 may push the resume time on.
        while (delay := self._resume_at - loop.time()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(delay)


class Buckets:
    """Every bucket of a run, created on first use from the catalog's SLA."""

    def __init__(
        self,
        overrides: dict[str, tuple[int, float]] | None = None,
        grants: GrantsFactory = local_grants,
    ) -> None:
        self._overrides = overrides or {}
        self._grants = grants
        self._buckets: dict[str, Bucket] = {}
        self.observers: list[Callable[[str, float], None]] = []

    def observe(self, path: str, seconds: float) -> None:
        """Pass one answered request's latency to every observer (metrics)."""
        for observer in self.observers:
            observer(path, seconds)

    def get(self, path: str, limit: int, period: float) -> Bucket:
        """The bucket of `path`, with its documented or configured budget."""
        bucket = self._buckets.get(path)
        if bucket is None:
            limit, period = self._overrides.get(path, (limit, period))
            grants = self._grants(path, limit, period)
            bucket = self._buckets[path] = Bucket(path, limit, period, grants)
        return bucket

    def __iter__(self) -> Iterator[Bucket]:
        return iter(self._buckets.values())
