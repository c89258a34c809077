"""Buckets: one rate budget per endpoint path, kept as a contract.

The contract (DESIGN.md): in any sliding window of the documented length,
requests sent to one bucket never exceed its limit, retries included.

A leaky bucket holding C tokens and draining at rate r admits at most
C + r * W requests in any window of length W. With the burst C at 1% of
the limit (at least one) and r = (limit - C) / (W + margin), that bound
stays under the limit even when requests reach the site up to `margin`
later than they were granted, while steady state uses about 98% of the
budget. A full-size burst, as `AsyncLimiter(limit, period)` has, would
admit nearly twice the limit in its first window.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiolimiter import AsyncLimiter

BURST_SHARE = 0.01
MARGIN_SHARE = 0.01
MAX_IN_FLIGHT = 64


@dataclass(slots=True)
class BucketCounters:
    """What one bucket has done so far."""

    requests: int = 0
    retries: int = 0
    throttled: int = 0
    failures: int = 0


class Bucket:
    """The shared budget, concurrency and backoff state of one endpoint path."""

    def __init__(
        self,
        path: str,
        limit: int,
        period: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self.limit = limit
        self.period = period
        self.burst = max(1, int(limit * BURST_SHARE))
        self.margin = period * MARGIN_SHARE
        self.rate = max(limit - self.burst, 1) / (period + self.margin)
        self.counters = BucketCounters()
        self._limiter = AsyncLimiter(self.burst, self.burst / self.rate)
        self._in_flight = asyncio.Semaphore(min(MAX_IN_FLIGHT, limit))
        self._clock = clock
        self._resume_at = 0.0

    def __repr__(self) -> str:
        paused = max(0.0, self._resume_at - self._clock())
        return (
            f"<Bucket {self.path} {self.limit}/{self.period:g}s "
            f"rate={self.rate:.2f}/s burst={self.burst} "
            f"requests={self.counters.requests} throttled={self.counters.throttled} "
            f"paused={paused:.2f}s>"
        )

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold a place in flight and one token of the budget.

        The place is taken before the token so that a granted token is
        spent at once: a token left waiting for a connection would let
        requests bunch up later, past what the margin allows for.
        """
        async with self._in_flight:
            await self._wait_out_backoff()
            await self._limiter.acquire()
            self.counters.requests += 1
            yield

    def back_off(self, seconds: float) -> None:
        """Send nothing to this bucket for `seconds` (a 429 was answered)."""
        self._resume_at = max(self._resume_at, self._clock() + seconds)

    def estimate_seconds(self, requests: int) -> float:
        """Time `requests` need at this bucket's rate, the burst included."""
        return max(0, requests - self.burst) / self.rate

    async def _wait_out_backoff(self) -> None:
        # A loop, not one sleep: another 429 may push the resume time on.
        while (delay := self._resume_at - self._clock()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(delay)


class Buckets:
    """Every bucket of a run, created on first use from the catalog's SLA."""

    def __init__(self, overrides: dict[str, tuple[int, float]] | None = None) -> None:
        self._overrides = overrides or {}
        self._buckets: dict[str, Bucket] = {}

    def get(self, path: str, limit: int, period: float) -> Bucket:
        """The bucket of `path`, with its documented or configured budget."""
        bucket = self._buckets.get(path)
        if bucket is None:
            limit, period = self._overrides.get(path, (limit, period))
            bucket = self._buckets[path] = Bucket(path, limit, period)
        return bucket

    def __iter__(self) -> Iterator[Bucket]:
        return iter(self._buckets.values())
