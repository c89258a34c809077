"""Scale-out: the large scale harvested in one process, by 1 and by 2 Ray workers.

Two harvests, each run three ways (`--executor local`, `--executor ray
--workers 1`, `--executor ray --workers 2`), each way with a cold
emulator of its own:

- the full snapshot: every stream of the large scale over one past day
  (1.42M records) at the documented limits. Its floor is a tier-2
  bucket at 60 a minute, so it shows that a cluster run keeps every
  bucket's limit and stays near the bound, not how fast it parses;
- tier-1 only: `host_metrics` (and its parent) over one past day, 1.15M
  records in pages of 1000 at 4000 requests a second, where CPU is the
  bound and more workers can help.

Ray workers share each bucket's budget through a Redis server started
here on loopback (persistence off), or split it evenly when
`redis-server` is not installed. Every run is verified against the
emulator's ground truth, and the emulator's own `max_in_window` is
printed beside each bucket's limit. On this 2-core machine the emulator
holds one core, so two workers share the other: the figures show the
overhead and the limits kept, not the gain of a real cluster.

Run: `make bench-scale` (about three minutes).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

from benchmarks import loops, show
from benchmarks.child import HarvesterRun, run_harvester, site_config
from benchmarks.probe import observe
from benchmarks.site import DAY_MS, Site, emulator, past_day
from harvester.verify import verify

WAYS: dict[str, dict[str, Any]] = {
    "local": {"kind": "local"},
    "ray x1": {"kind": "ray", "workers": 1},
    "ray x2": {"kind": "ray", "workers": 2},
}


async def main() -> dict[str, Any]:
    """Run the benchmark; print and return its figures."""
    day = past_day(2)
    span = {"since": day, "until": day + DAY_MS}
    harvests = {
        "snapshot": span,
        "tier-1 only": {**span, "streams": ["host_metrics"]},
    }
    figures: dict[str, Any] = {}
    with _budget() as budget:
        for harvest, run_table in harvests.items():
            show.title(f"scale-out, large scale: {harvest}")
            for way, executor in WAYS.items():
                tables = {"executor": executor}
                if executor["kind"] == "ray" and budget:
                    tables["budget"] = budget
                figures[f"{harvest} / {way}"] = await _measure(way, run_table, tables)
    return figures


async def _measure(
    way: str, run_table: dict[str, Any], tables: dict[str, Any]
) -> dict[str, Any]:
    async with emulator("large") as site, loops.session(2) as http:
        with tempfile.TemporaryDirectory(prefix="bench-scale-") as scratch:
            out = Path(scratch) / "out"
            config = site_config(site, run_table, **tables)
            async with observe(site, http) as served:
                run = await _run(site, config, out)
            checks = await verify(out, site.base_url)
            counted = await site.stats(http)
    inexact = [check.stream for check in checks if not check.exact]
    per_second = run.records / run.wall_seconds
    show.line(f"{way}: records/s (manifest wall)", per_second)
    show.line(
        f"{way}: lower bound (its budget)", run.manifest["lower_bound_seconds"], "s"
    )
    show.line(f"{way}: process wall", run.process_seconds, "s")
    show.line(f"{way}: emulator CPU share (1.0 = a core)", served.cpu_share)
    show.line(f"{way}: streams not exact", len(inexact))
    busiest = _limits_kept(way, counted)
    throttled = sum(bucket["throttled"] for bucket in counted.values())
    show.line(f"{way}: 429s answered", throttled)
    return {
        "records": run.records,
        "records_per_s": round(per_second),
        "process_seconds": round(run.process_seconds, 3),
        "wall_seconds": run.wall_seconds,
        "lower_bound_seconds": run.manifest["lower_bound_seconds"],
        "streams_not_exact": inexact,
        "throttled": throttled,
        "max_in_window": busiest,
        **served.figures(),
    }


async def _run(site: Site, config: dict[str, Any], out: Path) -> HarvesterRun:
    run = await run_harvester(site, config, out)
    if run.exit_code != 0:
        raise RuntimeError(f"harvester exited {run.exit_code}")
    return run


def _limits_kept(way: str, counted: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Each used bucket's busiest window against its limit, as the emulator saw."""
    used = {path: bucket for path, bucket in counted.items() if bucket["requests"]}
    for path, bucket in sorted(used.items(), key=_share, reverse=True)[:3]:
        show.line(
            f"{way}: max in window / limit, {_short(path)}",
            f"{bucket['max_in_window']} / {bucket['limit']}",
        )
    over = [path for path, bucket in used.items() if _share((path, bucket)) > 1]
    show.line(f"{way}: buckets over their limit", len(over))
    return {
        path: f"{bucket['max_in_window']} / {bucket['limit']}"
        for path, bucket in sorted(used.items())
    }


def _share(item: tuple[str, dict[str, Any]]) -> float:
    bucket = item[1]
    return float(bucket["max_in_window"]) / bucket["limit"]


def _short(path: str) -> str:
    return "/".join(path.rstrip("/").split("/")[-2:])


@contextlib.contextmanager
def _budget() -> Iterator[dict[str, str] | None]:
    if shutil.which("redis-server") is None:
        show.line("budget of ray runs", "split evenly (redis-server not installed)")
        yield None
        return
    # The tests' throwaway server: loopback, a free port, persistence off.
    from tests.redis_server import RedisServer

    server = RedisServer.start()
    try:
        show.line("budget of ray runs", "shared through Redis on loopback")
        with mock.patch.dict(os.environ, {"ESM_REDIS_URL": server.url}):
            yield {"kind": "redis"}
    finally:
        server.stop()
