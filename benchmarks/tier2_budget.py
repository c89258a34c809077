"""A tier-2 bucket over minutes: how much of its budget the harvester uses.

The documented tier-2 budget is 60 requests a minute. Scaled down the
same way on both sides (emulator `--limit` and the config's `[buckets]`)
to 60 per 10 s, the `audit_logs` bucket is kept busy for about two and a
half minutes: seven past days of the large scale, 10 records a page
(840 requests).

Budget used = requests / (limit x elapsed windows), where the elapsed
time runs from the bucket's first request to its last, as the emulator's
own counter saw them. Goal: at least 97%, with no 429 and the
emulator's `max_in_window` <= the limit.

Run: `python -m benchmarks tier2_budget` (about three minutes).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from benchmarks import loops, show
from benchmarks.child import HarvesterRun, run_harvester, site_config
from benchmarks.probe import Served, observe
from benchmarks.site import emulator, past_day
from harvester import catalog

PATH = catalog.AUDIT_LOGS.path
LIMIT, PERIOD = 60, 10.0
DAYS = 7
PAGE_SIZE = 10


async def main() -> dict[str, Any]:
    """Run the benchmark; print and return its figures."""
    show.title(f"tier-2 budget: audit_logs at {LIMIT} per {PERIOD:g} s")
    since, until = past_day(DAYS + 1), past_day(1)
    async with emulator("large", {PATH: (LIMIT, PERIOD)}) as site:
        async with loops.session(2) as http:
            run_table = {"since": since, "until": until, "streams": ["audit_logs"]}
            config = site_config(
                site,
                run_table,
                streams={"audit_logs": {"page_size": PAGE_SIZE}},
                buckets={PATH: {"limit": LIMIT, "period": PERIOD}},
            )
            with tempfile.TemporaryDirectory(prefix="bench-tier2-") as scratch:
                async with observe(site, http, PATH) as served:
                    run = await run_harvester(site, config, Path(scratch) / "out")
            bucket = (await site.stats(http))[PATH]
    return _report(run, served, bucket)


def _report(
    run: HarvesterRun, served: Served, bucket: dict[str, Any]
) -> dict[str, Any]:
    sent = run.bucket(PATH)["requests"]
    own_rate = sent / run.wall_seconds
    show.line("requests sent (harvester's manifest)", sent)
    show.line("harvester: requests/s over its wall time", own_rate)
    show.line("emulator served: requests/s (busy span)", served.per_second)
    show.line("emulator busy span", served.busy_seconds, "s")
    show.line("emulator: most requests in any window", bucket["max_in_window"])
    show.line("emulator: 429s answered", bucket["throttled"])
    show.line("429s in the harvester's manifest", run.manifest["totals"]["throttled"])
    kept = bucket["max_in_window"] <= LIMIT and bucket["throttled"] == 0
    show.line("limit kept", "yes" if kept else "NO")
    windows = served.busy_seconds / PERIOD
    used = served.requests / (LIMIT * windows)
    # What the bucket's design allows: its burst, then its steady rate.
    burst = max(1, int(LIMIT * 0.01))
    designed = (burst + (LIMIT - burst) / (PERIOD * 1.01) * served.busy_seconds) / (
        LIMIT * windows
    )
    show.line("budget the bucket's design allows", designed * 100, "%")
    return {
        "requests": sent,
        "harvester_requests_per_s": round(own_rate, 3),
        **served.figures(),
        "busy_seconds": round(served.busy_seconds, 2),
        "max_in_window": bucket["max_in_window"],
        "throttled": bucket["throttled"],
        "limit_kept": kept,
        "designed_budget": round(designed, 4),
        "budget_used": show.goal("budget used, % of limit x windows", used * 100, 97.0),
    }
