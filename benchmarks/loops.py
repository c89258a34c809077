"""Minimal aiohttp loops: what a few lines of client code get from the site.

Each loop sends a given list of page requests from `concurrency` workers
on one session and does as little as its name says with each answer:

- `fetch_only` reads the body and drops it: the ceiling of the transport;
- `orjson_lines` parses the page, re-encodes each record and writes it as
  a line to a file, as a hand-written harvester would;
- with `rate`, every request waits for its slot, 1 / `rate` s after the
  slot before it (never sooner, never catching up after a lag): the
  simplest pacing that keeps under a sliding-window limit.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import aiohttp
import orjson

from benchmarks.site import Site

BUFFER_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class Request:
    """One page request and the records its answer holds."""

    path: str
    query: dict[str, str]
    records: int


@dataclass(slots=True)
class LoopRun:
    """What one loop did and how long it took."""

    requests: int = 0
    records: int = 0
    bytes: int = 0
    seconds: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)

    @property
    def per_second(self) -> float:
        """Requests per second."""
        return self.requests / self.seconds

    @property
    def records_per_second(self) -> float:
        """Records per second."""
        return self.records / self.seconds


def session(concurrency: int) -> aiohttp.ClientSession:
    """A session like the harvester's: pooled, large headers allowed."""
    connector = aiohttp.TCPConnector(limit=concurrency)
    return aiohttp.ClientSession(
        connector=connector, max_field_size=65536, max_line_size=65536
    )


def offset_pages(
    path: str, partitions: Sequence[dict[str, str]], total: int, size: int
) -> list[Request]:
    """Every page of `total` records per partition, `size` records a page."""
    return [
        Request(
            path,
            {**query, "offset_value": str(offset), "page_size": str(size)},
            min(size, total - offset),
        )
        for query in partitions
        for offset in range(0, total, size)
    ]


async def fetch_only(
    site: Site, token: str, requests: Sequence[Request], concurrency: int
) -> LoopRun:
    """Fetch every page and drop its body unread."""
    return await _run(site, token, requests, concurrency, None, None)


async def orjson_lines(
    site: Site, token: str, requests: Sequence[Request], concurrency: int, out: Path
) -> LoopRun:
    """Fetch every page, parse it, and write each record re-encoded as a line."""
    # A plain blocking file, as such a loop would have: writes go to the
    # page cache and cost what the loop itself costs.
    with open(out, "wb", buffering=BUFFER_BYTES) as handle:  # noqa: ASYNC230
        return await _run(site, token, requests, concurrency, handle, None)


async def paced(
    site: Site,
    token: str,
    requests: Sequence[Request],
    concurrency: int,
    rate: float,
) -> LoopRun:
    """Fetch every page, starting each 1 / `rate` s or more after the last."""
    return await _run(site, token, requests, concurrency, None, rate)


async def _run(
    site: Site,
    token: str,
    requests: Sequence[Request],
    concurrency: int,
    lines: BinaryIO | None,
    rate: float | None,
) -> LoopRun:
    run = LoopRun()
    headers = site.headers(token)
    queue: Iterator[Request] = iter(requests)
    interval = 1 / rate if rate else 0.0
    next_slot = 0.0
    async with session(concurrency) as http:
        started = time.perf_counter()

        async def worker() -> None:
            nonlocal next_slot
            for request in queue:
                if interval:
                    slot = max(time.perf_counter(), next_slot)
                    next_slot = slot + interval
                    await _wait_for(slot)
                url = site.base_url + request.path
                async with http.get(url, params=request.query, headers=headers) as r:
                    body = await r.read()
                    status = r.status
                _count(run, request, body, status, lines)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        run.seconds = time.perf_counter() - started
    return run


async def _wait_for(moment: float) -> None:
    delay = moment - time.perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)


def _count(
    run: LoopRun, request: Request, body: bytes, status: int, lines: BinaryIO | None
) -> None:
    run.requests += 1
    run.bytes += len(body)
    run.statuses[status] += 1
    if status != 200:
        return
    if lines is None:
        run.records += request.records
        return
    records = orjson.loads(body)["list"]
    for record in records:
        lines.write(orjson.dumps(record) + b"\n")
    run.records += len(records)
