"""One run, wired together: session, buckets, client, pager, sink, manifest."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from harvester import plan as planner
from harvester import sinks
from harvester.config import RunConfig, Secrets
from harvester.engine import Harvest
from harvester.errors import AuthError
from harvester.fetch import Client, open_session
from harvester.limits import Buckets
from harvester.manifest import RunReport
from harvester.paging import Pager

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Outcome:
    """A finished run: its report, where its manifest is, and any fatal error."""

    report: RunReport
    manifest: Path
    fatal: AuthError | None


async def harvest(config: RunConfig, secrets: Secrets, out: Path) -> Outcome:
    """Harvest the plan of `config` into `out` and write its manifest."""
    plan = planner.build(config, int(time.time() * 1000))
    overrides = {path: (b.limit, b.period) for path, b in config.buckets.items()}
    buckets = Buckets(overrides)
    report = RunReport(plan, site=config.site.base_url, sink=config.sink)
    sink = sinks.create(config.sink, out, gzip=config.gzip)
    try:
        async with open_session(config.site) as session:
            client = Client(
                session, config.site, secrets, buckets, attempts=config.attempts
            )
            engine = Harvest(plan, config, Pager(client, config.site), sink, report)
            await engine.run()
    finally:
        await sink.close()
        manifest = report.write(out, buckets)
    for bucket in buckets:
        log.debug("%r", bucket)
    return Outcome(report, manifest, engine.fatal)
