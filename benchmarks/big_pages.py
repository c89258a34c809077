"""Tier-1 big pages: records per second of the harvester and of two loops.

All three fetch the same pages: one past day of `host_metrics` for every
host of the large scale, 1000 records a page (1,152,000 records, about
400 MB). The emulator's limit is lifted, so only CPU and the loopback
bound the figures, and a first untimed pass fills its page cache, so it
answers every timed request with bytes it already holds.

- fetch-only ceiling: aiohttp reads each body and drops it;
- orjson loop: aiohttp, then `orjson.loads` of the page and one
  `orjson.dumps(record) + b"\\n"` written to a file per record;
- harvester: `harvester run` in a child process, NDJSON sink.

Goals: harvester / orjson loop >= 2.0; harvester / fetch-only >= 0.5.
Each side runs `ROUNDS` times, interleaved; medians are compared. The
harvester's rate is its `host_metrics` records over its manifest's
`wall_seconds` (interpreter start-up excluded, token and host listing
included).

Run: `python -m benchmarks big_pages`.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks import loops, show
from benchmarks.child import HarvesterRun, run_harvester, site_config
from benchmarks.probe import Served, observe
from benchmarks.site import (
    DAY_MS,
    DETAILS_PATH,
    METRICS_PATH,
    Site,
    emulator,
    past_day,
    unlimited,
)

PAGE_SIZE = 1000
RECORDS_PER_HOST_DAY = 24 * 60 * 4  # four metrics a minute
CONCURRENCY = 16
ROUNDS = 3

Side = Callable[[Path], Awaitable[tuple[float, HarvesterRun | None]]]


async def main() -> dict[str, Any]:
    """Run the benchmark; print and return its figures."""
    show.title(f"tier-1 big pages: host_metrics, {PAGE_SIZE} records a page")
    day = past_day(2)
    async with emulator("large", unlimited(METRICS_PATH, DETAILS_PATH)) as site:
        async with loops.session(4) as http:
            token, requests = await warm(site, http, day)
            sides = _sides(site, token, requests, day)
            measured: dict[str, list[tuple[float, HarvesterRun | None, Served]]] = {}
            with tempfile.TemporaryDirectory(prefix="bench-big-") as scratch:
                for round_ in range(ROUNDS):
                    for name, side in sides.items():
                        out = Path(scratch) / f"{name.split()[0]}-{round_}"
                        async with observe(site, http, METRICS_PATH) as served:
                            rate, run = await side(out)
                        measured.setdefault(name, []).append((rate, run, served))
    return _report(measured, len(requests), sum(r.records for r in requests))


async def warm(
    site: Site, http: aiohttp.ClientSession, day: int
) -> tuple[str, list[loops.Request]]:
    """A token and the day's pages, fetched once so the emulator holds them."""
    token = await site.token(http)
    hosts = await site.host_ids(http, day)
    window = {"begin_time": str(day), "end_time": str(day + DAY_MS)}
    partitions = [{"host_id": host, **window} for host in hosts]
    requests = loops.offset_pages(
        METRICS_PATH, partitions, RECORDS_PER_HOST_DAY, PAGE_SIZE
    )
    await loops.fetch_only(site, token, requests, CONCURRENCY)
    return token, requests


def harvester_config(site: Site, day: int) -> dict[str, Any]:
    """The harvester's config for the benchmark's day of `host_metrics`."""
    run_table = {"since": day, "until": day + DAY_MS, "streams": ["host_metrics"]}
    tables = {"streams": {"host_metrics": {"page_size": PAGE_SIZE}}}
    return site_config(site, run_table, **tables)


def _sides(
    site: Site, token: str, requests: list[loops.Request], day: int
) -> dict[str, Side]:
    async def ceiling(out: Path) -> tuple[float, None]:
        run = await loops.fetch_only(site, token, requests, CONCURRENCY)
        return run.records_per_second, None

    async def orjson_loop(out: Path) -> tuple[float, None]:
        run = await loops.orjson_lines(site, token, requests, CONCURRENCY, out)
        await asyncio.to_thread(out.unlink)
        return run.records_per_second, None

    async def harvester(out: Path) -> tuple[float, HarvesterRun]:
        run = await run_harvester(site, harvester_config(site, day), out)
        if run.exit_code != 0:
            raise RuntimeError(f"harvester exited {run.exit_code}; see {out}.log")
        return run.stream_records("host_metrics") / run.wall_seconds, run

    return {
        "fetch-only ceiling": ceiling,
        "orjson loop": orjson_loop,
        "harvester": harvester,
    }


def _report(
    measured: dict[str, list[tuple[float, HarvesterRun | None, Served]]],
    requests: int,
    records: int,
) -> dict[str, Any]:
    show.line("requests / records per pass", f"{requests} / {records}")
    figures: dict[str, Any] = {"records": records, "rounds": ROUNDS}
    for name, runs in measured.items():
        rate = show.median([rate for rate, _, _ in runs])
        served = runs[-1][2]
        show.line(f"{name}: records/s (median)", rate)
        show.line("  emulator served: requests/s", served.per_second)
        show.line("  emulator CPU share (1.0 = a core)", served.cpu_share)
        figures[name] = {"records_per_s": round(rate), **served.figures()}
        run = runs[-1][1]
        if run is not None:
            show.line("  harvester CPU share (1.0 = a core)", run.cpu_share)
            show.line("  harvester peak RSS", f"{run.peak_rss_bytes / 2**20:.0f} MiB")
            figures[name]["cpu_share"] = round(run.cpu_share, 3)
            figures[name]["peak_rss_bytes"] = run.peak_rss_bytes
    harvester = figures["harvester"]["records_per_s"]
    orjson_rate = figures["orjson loop"]["records_per_s"]
    ceiling = figures["fetch-only ceiling"]["records_per_s"]
    figures["harvester_over_orjson"] = show.goal(
        "harvester / orjson loop", harvester / orjson_rate, 2.0
    )
    figures["harvester_over_fetch_only"] = show.goal(
        "harvester / fetch-only ceiling", harvester / ceiling, 0.5
    )
    return figures
