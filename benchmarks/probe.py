"""What the emulator itself saw during a phase: requests, rate and CPU.

A benchmark compares the harvester with other clients; these figures,
printed beside each client's own, show whether the emulator kept up. The
request rate is the slope of the emulator's own counter, sampled on its
admin route; the CPU share is read from /proc, where 1.0 means the
emulator used its whole core and may have been the bottleneck.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiohttp

from benchmarks.site import Site

SAMPLE_S = 0.05
_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(slots=True)
class Served:
    """The emulator's view of one phase, for one bucket."""

    requests: int = 0
    busy_seconds: float = 0.0
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    samples: list[tuple[float, int]] = field(default_factory=list, repr=False)

    @property
    def per_second(self) -> float:
        """Requests per second while requests were arriving."""
        return self.requests / self.busy_seconds if self.busy_seconds else 0.0

    @property
    def cpu_share(self) -> float:
        """The emulator's CPU time over the phase's wall time (1.0 = a core)."""
        return self.cpu_seconds / self.wall_seconds if self.wall_seconds else 0.0

    def figures(self) -> dict[str, float]:
        """The figures ready for JSON."""
        return {
            "emulator_requests": self.requests,
            "emulator_requests_per_s": round(self.per_second, 1),
            "emulator_cpu_share": round(self.cpu_share, 3),
        }


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process `pid` so far."""
    with open(f"/proc/{pid}/stat", "rb") as handle:
        fields = handle.read().rsplit(b")", 1)[1].split()
    # Fields 14 and 15 of stat(5), counted after the command name.
    return (int(fields[11]) + int(fields[12])) / _TICKS


@asynccontextmanager
async def observe(
    site: Site, session: aiohttp.ClientSession, bucket: str | None = None
) -> AsyncIterator[Served]:
    """Sample the emulator's counter of `bucket` (None: all) until the block ends."""
    served = Served()
    task = asyncio.create_task(_sample(site, session, bucket, served.samples))
    cpu, started = cpu_seconds(site.pid), time.perf_counter()
    try:
        yield served
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    served.wall_seconds = time.perf_counter() - started
    served.cpu_seconds = cpu_seconds(site.pid) - cpu
    final = _count(await site.stats(session), bucket)
    served.samples.append((time.perf_counter(), final))
    _settle(served)


async def _sample(
    site: Site,
    session: aiohttp.ClientSession,
    bucket: str | None,
    samples: list[tuple[float, int]],
) -> None:
    while True:
        count = _count(await site.stats(session), bucket)
        samples.append((time.perf_counter(), count))
        await asyncio.sleep(SAMPLE_S)


def _count(buckets: dict[str, dict[str, int]], bucket: str | None) -> int:
    if bucket is None:
        return sum(counters["requests"] for counters in buckets.values())
    return buckets[bucket]["requests"]


def _settle(served: Served) -> None:
    # The busy span runs from the last sample before the counter first
    # moved to the first sample after it last moved.
    samples = served.samples
    start, stop = samples[0][1], samples[-1][1]
    served.requests = stop - start
    moved = [i for i in range(1, len(samples)) if samples[i][1] != samples[i - 1][1]]
    if moved:
        served.busy_seconds = samples[moved[-1]][0] - samples[moved[0] - 1][0]
