"""The harvester beside dlt, the connector framework a user might pick.

Both harvest the same thing from the same emulator: six past hours of
`host_metrics` over every host of the large scale (288,000 records),
1000 records a page, into JSON-lines files (dlt: its `rest_api` source,
`filesystem` destination, compression off; see `benchmarks.dlt_pipeline`).
The token is fetched here, with a POST to /v3/auth/tokens, and handed to
dlt as a static header. Both run as child processes; the figure is each
one's records over its process's wall time, start-up included, since
that is what a user waits for. The emulator's limits are lifted and its
page cache filled first, so neither side waits on it.

dlt is a benchmark-only dependency (`pip install -e '.[bench]'`); when it
cannot be imported, the benchmark says so and reports no ratio.

Run: `python -m benchmarks peer_dlt`.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson

from benchmarks import loops, show
from benchmarks.child import run_harvester, run_process, site_config
from benchmarks.probe import Served, observe
from benchmarks.site import (
    DETAILS_PATH,
    METRICS_PATH,
    Site,
    emulator,
    past_day,
    unlimited,
)

# The checkout, so the child finds `benchmarks` wherever it is started.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOURS = 6
PAGE_SIZE = 1000
ROUNDS = 2
DLT_ENV = {
    # dlt reports usage to its makers unless told not to; nothing may leave
    # this machine.
    "RUNTIME__DLTHUB_TELEMETRY": "false",
    "DATA_WRITER__DISABLE_COMPRESSION": "true",
}


async def main() -> dict[str, Any]:
    """Run the benchmark; print and return its figures."""
    show.title(f"peer: dlt rest_api beside the harvester, {HOURS} h of host_metrics")
    if importlib.util.find_spec("dlt") is None:
        show.line("dlt", "not installed: pip install -e '.[bench]'")
        return {"dlt": "not installed"}
    since = past_day(2)
    until = since + HOURS * 3_600_000
    async with emulator("large", unlimited(METRICS_PATH, DETAILS_PATH)) as site:
        async with loops.session(2) as http:
            token = await site.token(http)
            hosts = await site.host_ids(http, since)
            window = {"begin_time": str(since), "end_time": str(until)}
            partitions = [{"host_id": host, **window} for host in hosts]
            requests = loops.offset_pages(
                METRICS_PATH, partitions, HOURS * 60 * 4, PAGE_SIZE
            )
            await loops.fetch_only(site, token, requests, 16)  # warm-up
            dlt_runs, harvests = [], []
            with tempfile.TemporaryDirectory(prefix="bench-peer-") as scratch:
                for round_ in range(ROUNDS):
                    work = Path(scratch) / f"round-{round_}"
                    async with observe(site, http, METRICS_PATH) as served:
                        peer = await _dlt(site, token, since, until, work)
                    dlt_runs.append((peer, served))
                    async with observe(site, http, METRICS_PATH) as served:
                        ours = await _harvester(site, since, until, work)
                    harvests.append((ours, served))
    return _report(dlt_runs, harvests)


async def _dlt(site: Site, token: str, since: int, until: int, work: Path) -> dict:
    out = work / "dlt"
    await _mkdir(out)
    env = {
        **os.environ,
        **DLT_ENV,
        "PYTHONPATH": ROOT,
        "BENCH_BASE_URL": site.base_url,
        "BENCH_TOKEN": token,
        "BENCH_APP_CODE": site.app_code,
        "BENCH_SINCE": str(since),
        "BENCH_UNTIL": str(until),
        "BENCH_OUT": str(out),
    }
    log = work / "dlt.log"
    command = [sys.executable, "-m", "benchmarks.dlt_pipeline"]
    process = await run_process(command, env, log, cwd=out)
    lines = (await _read(log)).splitlines()
    if process.exit_code != 0 or not lines:
        tail = b"\n".join(lines[-5:]).decode(errors="replace")
        raise RuntimeError(f"dlt exited {process.exit_code}: {tail}")
    figures = orjson.loads(lines[-1])
    figures["process_seconds"] = process.seconds
    figures["peak_rss_bytes"] = process.peak_rss_bytes
    return figures


async def _harvester(site: Site, since: int, until: int, work: Path) -> dict:
    run_table = {"since": since, "until": until, "streams": ["host_metrics"]}
    tables = {"streams": {"host_metrics": {"page_size": PAGE_SIZE}}}
    config = site_config(site, run_table, **tables)
    run = await run_harvester(site, config, work / "harvest")
    if run.exit_code != 0:
        raise RuntimeError(f"harvester exited {run.exit_code}")
    return {
        "records": run.stream_records("host_metrics"),
        "seconds": run.wall_seconds,
        "process_seconds": run.process_seconds,
        "peak_rss_bytes": run.peak_rss_bytes,
    }


def _report(
    dlt_runs: list[tuple[dict, Served]], harvests: list[tuple[dict, Served]]
) -> dict[str, Any]:
    figures: dict[str, Any] = {"dlt_version": dlt_runs[0][0]["dlt_version"]}
    rates = {}
    for name, runs in (("dlt", dlt_runs), ("harvester", harvests)):
        rate = show.median([r["records"] / r["process_seconds"] for r, _ in runs])
        last, served = runs[-1]
        show.line(f"{name}: records", last["records"])
        show.line(f"{name}: records/s (process wall, median)", rate)
        show.line(f"{name}: peak RSS", f"{last['peak_rss_bytes'] / 2**20:.0f} MiB")
        show.line("  emulator served: requests/s", served.per_second)
        rates[name] = rate
        figures[name] = {
            "records": last["records"],
            "records_per_s": round(rate),
            "peak_rss_bytes": last["peak_rss_bytes"],
            **served.figures(),
        }
    show.line("dlt version", figures["dlt_version"])
    ratio = rates["harvester"] / rates["dlt"]
    show.line("harvester / dlt (records/s)", ratio)
    figures["harvester_over_dlt"] = round(ratio, 2)
    return figures


async def _mkdir(path: Path) -> None:
    await asyncio.to_thread(path.mkdir, parents=True, exist_ok=True)


async def _read(path: Path) -> bytes:
    return await asyncio.to_thread(path.read_bytes)
