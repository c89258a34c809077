"""A full large-scale snapshot, and memory that does not grow with a harvest.

1. Every stream of the large scale for one past day (1,152,000
   `host_metrics` records among 1.4M), at the documented limits. The
   floor is the manifest's `lower_bound_seconds`: what its busiest bucket
   needs at its rate (a tier-2 bucket, at 60 a minute). Goal: the
   process's wall time <= 1.05 x that bound + 2 s of start-up.
2. `host_metrics` (and its parent `host_details`) over one day and over
   five days (about 1.15M and 5.76M records), one-day windows: the peak
   RSS of the second within 10% of the first's.

Peak RSS is the harvester process's high-water mark (`ru_maxrss` from
`wait4`). Each run has an emulator of its own, started cold.

Run: `python -m benchmarks snapshot` (about a minute).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from benchmarks import loops, show
from benchmarks.child import HarvesterRun, run_harvester, site_config
from benchmarks.probe import Served, observe
from benchmarks.site import DAY_MS, emulator, past_day

START_UP_S = 2.0
SMALL_DAYS, BIG_DAYS = 1, 5
MIB = 2**20


async def main() -> dict[str, Any]:
    """Run the benchmark; print and return its figures."""
    show.title("full snapshot of the large scale, and memory against volume")
    day = past_day(2)
    full, served = await _harvest({"since": day, "until": day + DAY_MS})
    figures = _snapshot_figures(full, served)
    runs = {}
    for days in (SMALL_DAYS, BIG_DAYS):
        since = past_day(days + 1)
        span = {"since": since, "until": since + days * DAY_MS}
        runs[days], _ = await _harvest({**span, "streams": ["host_metrics"]})
    figures["memory"] = _memory_figures(runs[SMALL_DAYS], runs[BIG_DAYS])
    return figures


async def _harvest(run_table: dict[str, Any]) -> tuple[HarvesterRun, Served]:
    async with emulator("large") as site, loops.session(2) as http:
        with tempfile.TemporaryDirectory(prefix="bench-snapshot-") as scratch:
            config = site_config(site, run_table)
            async with observe(site, http) as served:
                run = await run_harvester(site, config, Path(scratch) / "out")
    if run.exit_code != 0:
        raise RuntimeError(f"harvester exited {run.exit_code}")
    return run, served


def _snapshot_figures(run: HarvesterRun, served: Served) -> dict[str, Any]:
    bound = float(run.manifest["lower_bound_seconds"])
    busiest = max(run.manifest["buckets"].items(), key=_bound_of)
    show.line("records (host_metrics)", f"{run.records} ({_metrics(run)})")
    show.line("requests", run.manifest["totals"]["requests"])
    show.line("busiest bucket", busiest[0].rsplit("/", 2)[-2] + "/...")
    show.line("lower bound (busiest bucket at its rate)", bound, "s")
    show.line("harvester: wall time of the process", run.process_seconds, "s")
    show.line("harvester: wall time in its manifest", run.wall_seconds, "s")
    show.line(
        "harvester: requests/s", run.manifest["totals"]["requests"] / run.wall_seconds
    )
    show.line("harvester: records/s", run.records / run.wall_seconds)
    show.line("emulator served: requests/s (busy span)", served.per_second)
    show.line("emulator CPU share (1.0 = a core)", served.cpu_share)
    show.line("harvester peak RSS", f"{run.peak_rss_bytes / MIB:.0f} MiB")
    show.line("wall / lower bound", run.process_seconds / bound)
    return {
        "records": run.records,
        "host_metrics_records": _metrics(run),
        "lower_bound_seconds": bound,
        "process_seconds": round(run.process_seconds, 3),
        "wall_seconds": run.wall_seconds,
        "peak_rss_bytes": run.peak_rss_bytes,
        "throttled": run.manifest["totals"]["throttled"],
        **served.figures(),
        "wall_over_bound": show.goal(
            "(wall - 2 s start-up) / lower bound",
            (run.process_seconds - START_UP_S) / bound,
            1.05,
            at_most=True,
        ),
    }


def _memory_figures(small: HarvesterRun, big: HarvesterRun) -> dict[str, Any]:
    for days, run in ((SMALL_DAYS, small), (BIG_DAYS, big)):
        show.line(
            f"{days} day(s): records / peak RSS",
            f"{_metrics(run)} / {run.peak_rss_bytes / MIB:.0f} MiB",
        )
        show.line(f"{days} day(s): records/s", run.records / run.wall_seconds)
    return {
        "small_records": _metrics(small),
        "small_peak_rss_bytes": small.peak_rss_bytes,
        "big_records": _metrics(big),
        "big_peak_rss_bytes": big.peak_rss_bytes,
        "rss_big_over_small": show.goal(
            "peak RSS, 5 days / 1 day",
            big.peak_rss_bytes / small.peak_rss_bytes,
            1.10,
            at_most=True,
        ),
    }


def _metrics(run: HarvesterRun) -> int:
    return run.stream_records("host_metrics")


def _bound_of(item: tuple[str, dict[str, Any]]) -> float:
    return float(item[1]["lower_bound_seconds"])
