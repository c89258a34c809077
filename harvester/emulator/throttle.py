"""Gateway rate limits: one sliding-window log per bucket.

A bucket admits `limit` arrivals in any window of `period` seconds. Every
arrival counts, the ones it refuses too, so a client that keeps knocking
stays throttled; this is the strict reading DESIGN.md asks the harvester
to respect. A window is half-open, (t - period, t]: an arrival exactly one
period after another no longer shares its window.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from harvester.catalog import Endpoint


class Bucket:
    """One rate budget and its counters."""

    __slots__ = (
        "_arrivals",
        "limit",
        "max_in_window",
        "name",
        "period",
        "requests",
        "throttled",
    )

    def __init__(self, name: str, limit: int, period: float) -> None:
        self.name = name
        self.limit = limit
        self.period = period
        self.requests = 0
        self.throttled = 0
        self.max_in_window = 0
        self._arrivals: deque[float] = deque()

    def __repr__(self) -> str:
        return (
            f"Bucket({self.name!r}, {self.limit}/{self.period}s, "
            f"in_window={len(self._arrivals)}, requests={self.requests}, "
            f"throttled={self.throttled})"
        )

    def arrive(self, now: float) -> bool:
        """Log one arrival at monotonic time `now`; False if over the limit."""
        arrivals = self._arrivals
        arrivals.append(now)
        horizon = now - self.period
        while arrivals[0] <= horizon:
            arrivals.popleft()

        # The busiest window always ends at an arrival, so checking the
        # count at each arrival finds the exact maximum.
        in_window = len(arrivals)
        self.requests += 1
        if in_window > self.max_in_window:
            self.max_in_window = in_window
        if in_window > self.limit:
            self.throttled += 1
            return False
        return True

    def refuse(self) -> None:
        """Count a 429 sent for another reason (a throttle-storm fault)."""
        self.throttled += 1

    def message(self) -> str:
        """The gateway's text for a throttled request, naming the policy."""
        return (
            f"The request is throttled by policy {self.name}, "
            f"limit {self.limit} per {self.period:g} s"
        )

    def snapshot(self) -> dict[str, Any]:
        """The counters, ready for JSON."""
        return {
            "limit": self.limit,
            "period_s": self.period,
            "requests": self.requests,
            "throttled": self.throttled,
            "max_in_window": self.max_in_window,
        }


def build_buckets(
    endpoints: Iterable[Endpoint], overrides: Mapping[str, tuple[int, float]]
) -> dict[str, Bucket]:
    """One bucket per endpoint path, sized by the catalog or an override."""
    buckets: dict[str, Bucket] = {}
    for endpoint in endpoints:
        name = endpoint.bucket
        limit, period = overrides.get(name, (endpoint.sla.limit, endpoint.sla.period))
        buckets.setdefault(name, Bucket(name, int(limit), float(period)))
    return buckets
