"""Spending a bucket's leases in one process: `LeasedGrants`.

A lease is up to n tokens that must be spent within its time to live
(TTL), measured on this process's monotonic clock from the moment the
request for it was SENT, which is before the lease was issued: no clock
needs to agree with the one that scored it. Tokens left when the TTL is
up are dropped, never spent.

The TTL is 2% of the period, at least 20 ms and at most 1 s. Shorter,
and a round trip to Redis plus an event loop busy for a few milliseconds
would let many tokens expire unspent; longer, and the span counted
against the limit (period, margin and TTL) grows, wasting budget, while
a worker that stops holds tokens no one can use for longer. At the
documented limits (4000 per 1 s, 60 per 60 s) the TTL is 20 ms and 1 s,
and steady use is period / counted span: 95.7% and 97.4%.

A lease asks for what the bucket will spend in half a TTL at the rate its
`take()` calls were measured at, or for as many requests as wait, if
more. The next lease is asked for once about half the tokens held are
spent, so it arrives before they run out and is itself spent well within
its TTL; a bucket too quiet to spend a token within a TTL asks only when
a request waits, so it wastes nothing. A lease is capped at 5% of the
limit: 2.5 times what half a TTL takes at the full rate, so the cap
never slows a bucket, yet one worker cannot take a large part of a
period's budget in one go and leave the others waiting a whole span.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from dataclasses import dataclass
from typing import Protocol

from harvester.errors import BudgetError
from harvester.limits import margin

log = logging.getLogger(__name__)

TTL_SHARE = 0.02
TTL_FLOOR_S = 0.02
TTL_CEILING_S = 1.0
LEASE_CAP_SHARE = 0.05
# The rate of takes is measured over this many TTLs, so one quiet moment
# does not shrink the next lease to a single token.
RATE_HORIZON_TTLS = 10


def lease_ttl(period: float) -> float:
    """How long a lease of a bucket with this period may be spent, in seconds."""
    return min(TTL_CEILING_S, max(TTL_FLOOR_S, period * TTL_SHARE))


def counted_span(period: float) -> float:
    """The seconds of leases counted against a bucket's limit.

    A token is sent at most a TTL after its lease was issued and arrives
    at most `limits.margin(period)` after it was sent, so the requests
    arriving in any window of `period` come from leases issued within
    this span.
    """
    return period + margin(period) + lease_ttl(period)


class LeaseSource(Protocol):
    """Where leases come from: the bucket logs in Redis."""

    async def lease(
        self, key: str, limit: int, span: float, want: int
    ) -> tuple[int, float]:
        """Tokens of a new lease of up to `want`, or none and seconds to wait."""
        ...


@dataclass(slots=True)
class Lease:
    """Tokens that may be spent until `deadline` (the event loop's clock)."""

    deadline: float
    tokens: int


class LeasedGrants:
    """One bucket's grants in one process, spent from leases of a shared log.

    Waiters are served in arrival order, with at most one request for a
    lease in flight. Once Redis has failed, every `take()` raises
    `BudgetError`, tokens still held included: nothing is sent on a
    budget that can no longer be checked.
    """

    def __init__(
        self, source: LeaseSource, key: str, limit: int, period: float
    ) -> None:
        self.key = key
        self.limit = limit
        self.ttl = lease_ttl(period)
        self.span = counted_span(period)
        self.cap = max(1, int(limit * LEASE_CAP_SHARE))
        self.expired = 0
        self._source = source
        self._leases: deque[Lease] = deque()
        self._turn = asyncio.Lock()
        self._fetch: asyncio.Task[None] | None = None
        self._waiting = 0
        self._demand = 0.0
        self._noted = 0.0
        self._failure: BudgetError | None = None

    async def take(self) -> None:
        """Wait until one request may leave now, and count it as sent.

        Raises:
            BudgetError: Redis cannot be used.
        """
        loop = asyncio.get_running_loop()
        self._note_demand(loop.time())
        self._waiting += 1
        try:
            async with self._turn:
                while not self._spend(loop.time()):
                    await self._refill()
        finally:
            self._waiting -= 1
        self._prefetch(loop.time())

    def estimate_seconds(self, requests: int) -> float:
        """The least time `requests` take: a whole limit may go at once,
        the next only once the first has left the counted span."""
        return (max(0, requests - 1) // self.limit) * self.span

    async def close(self) -> None:
        """Stop asking for leases."""
        if self._fetch is not None and not self._fetch.done():
            self._fetch.cancel()
            # `wait` returns once it has ended; its cancellation is expected.
            await asyncio.wait({self._fetch})

    def _spend(self, now: float) -> bool:
        if self._failure is not None:
            raise BudgetError(self._failure.where, self._failure.problem)
        self._drop_expired(now)
        if not self._leases:
            return False
        lease = self._leases[0]
        lease.tokens -= 1
        if not lease.tokens:
            self._leases.popleft()
        return True

    def _drop_expired(self, now: float) -> None:
        while self._leases and self._leases[0].deadline <= now:
            dropped = self._leases.popleft().tokens
            self.expired += dropped
            log.debug("%s: %d unspent token(s) of a lease expired", self.key, dropped)

    async def _refill(self) -> None:
        if self._fetch is None or self._fetch.done():
            self._fetch = asyncio.create_task(self._lease(wait=True))
        # Shielded: the lease is for every waiter, not only the first.
        await asyncio.shield(self._fetch)

    def _prefetch(self, now: float) -> None:
        if self._failure is not None or (
            self._fetch is not None and not self._fetch.done()
        ):
            return
        self._drop_expired(now)
        held = sum(lease.tokens for lease in self._leases)
        if 2 * held <= self._want(now) and self._rate(now) * self.ttl >= held + 1:
            self._fetch = asyncio.create_task(self._lease(wait=False))

    async def _lease(self, *, wait: bool) -> None:
        loop = asyncio.get_running_loop()
        while True:
            sent = loop.time()
            try:
                tokens, delay = await self._source.lease(
                    self.key, self.limit, self.span, self._want(sent)
                )
            except BudgetError as error:
                # Kept for every waiter, now and later, to raise.
                self._failure = error
                return
            if tokens:
                self._leases.append(Lease(sent + self.ttl, tokens))
                return
            if not wait or not self._waiting:
                return
            # Redis said when the oldest lease leaves the span: no polling.
            await asyncio.sleep(delay)

    def _want(self, now: float) -> int:
        expected = math.ceil(self._rate(now) * self.ttl / 2)
        return max(1, min(self.cap, max(self._waiting, expected)))

    def _note_demand(self, now: float) -> None:
        self._demand = self._demand * self._decay(now) + 1
        self._noted = now

    def _rate(self, now: float) -> float:
        return self._demand * self._decay(now) / (self.ttl * RATE_HORIZON_TTLS)

    def _decay(self, now: float) -> float:
        return math.exp((self._noted - now) / (self.ttl * RATE_HORIZON_TTLS))
