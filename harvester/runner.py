"""One run, wired together: state, plan, budget, executor, engine, manifest.

Rerunning a command over the same output directory resumes it: an
unfinished run's span is taken up again and its completed units are
skipped; a finished run's directory takes a new span (`--since auto`
continues each stream where its checkpoints end).
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path

from harvester import checkpoints, estimate, logs, metrics, progress
from harvester import plan as planner
from harvester.budget import open_budget
from harvester.budget.shared import passwords
from harvester.checkpoints import CheckpointStore, RunState
from harvester.config import RunConfig, Secrets, read_redis_url
from harvester.engine import Harvest
from harvester.errors import SiteError
from harvester.executor import Executor, local_executor
from harvester.fetch import check_transport
from harvester.limits import Buckets
from harvester.manifest import RunReport

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Outcome:
    """A finished run: its report, its manifest, and why it stopped early."""

    report: RunReport
    manifest: Path
    fatal: SiteError | None
    interrupted: int | None


async def harvest(
    config: RunConfig,
    secrets: Secrets,
    out: Path,
    *,
    handle_signals: bool = False,
    show_progress: bool = False,
    metrics_port: int | None = None,
    metrics_host: str = metrics.DEFAULT_HOST,
) -> Outcome:
    """Harvest the plan of `config` into `out` and write its manifest.

    `show_progress` draws progress on standard error; `metrics_port` serves
    Prometheus metrics on `metrics_host` while the run goes.
    """
    site = config.site
    if config.budget.kind == "redis":
        # Read once here, so cluster workers need no copy of their own.
        url = secrets.redis_url or read_redis_url(config.budget)
        secrets = replace(secrets, redis_url=url)
        logs.mask(url, *passwords(url))
    check_transport(site.base_url, site.allow_plain_http)
    check_transport(site.iam_url, site.allow_plain_http, "site.iam_url")
    if removed := checkpoints.remove_leftovers(out):
        log.warning("removed %d temporary file(s) of an interrupted run", removed)
    store = CheckpointStore(out).load()
    plan, plan_id = _plan(config, out, store)
    overrides = {path: (b.limit, b.period) for path, b in config.buckets.items()}
    # Entered below, before the first request, when this process sends:
    # its grants take the budget. Cluster workers open their own; the
    # driver's grants only estimate the run's lower bound.
    budget = open_budget(config, secrets)
    buckets = Buckets(overrides, grants=budget.grants)
    report = RunReport(plan, out, config)
    # Read before the run replaces the manifest it learns from.
    forecast = estimate.estimate(plan, config, estimate.History.read(out, store))
    engine: Harvest | None = None
    try:
        async with contextlib.AsyncExitStack() as views:
            views.enter_context(logs.bound(report.run_id))
            if _local(config):
                await views.enter_async_context(budget)
                executor: Executor = await views.enter_async_context(
                    local_executor(config, secrets, out, buckets, plan.until)
                )
            else:
                executor = await views.enter_async_context(
                    _cluster_executor(config, secrets, out, buckets, plan.until)
                )
            if metrics_port is not None:
                exporter = await views.enter_async_context(
                    metrics.served(
                        metrics_port, buckets, report, forecast, host=metrics_host
                    )
                )
                buckets.observers.append(exporter.observe)
            await views.enter_async_context(
                progress.shown(buckets, report, forecast, quiet=not show_progress)
            )
            engine = Harvest(plan, config, executor, report, store, plan_id=plan_id)
            try:
                await engine.run(handle_signals=handle_signals)
            finally:
                report.tokens_issued = executor.tokens_issued
    finally:
        # A worker that died mid-unit leaves its temporary file; every
        # worker has ended by now, so nothing is still writing one.
        if not _local(config) and (removed := checkpoints.remove_leftovers(out)):
            log.warning("removed %d temporary file(s) of unfinished units", removed)
        manifest = report.write(out, buckets)
    assert engine is not None
    complete = (
        not report.failed_units
        and engine.interrupted is None
        and not any(unit.unsettled for unit in report.units)
    )
    checkpoints.write_state(out, RunState(plan_id, _spans(plan), complete))
    return Outcome(report, manifest, engine.fatal, engine.interrupted)


def _local(config: RunConfig) -> bool:
    return config.executor.kind == "local"


def _cluster_executor(
    config: RunConfig, secrets: Secrets, out: Path, buckets: Buckets, run_ms: int
) -> contextlib.AbstractAsyncContextManager[Executor]:
    # Ray is imported only by runs that ask for it.
    from harvester.cluster import ray_executor

    root = logging.getLogger()
    return ray_executor(
        config,
        secrets,
        out,
        buckets,
        run_ms=run_ms,
        log_level=root.getEffectiveLevel(),
        log_format=logs.format_in_use(),
    )


def _plan(
    config: RunConfig, out: Path, store: CheckpointStore
) -> tuple[planner.Plan, str]:
    settings = checkpoints.fingerprint(
        config.since,
        config.until,
        config.auto_start,
        config.streams,
        config.window_ms,
        config.stream_settings,
        config.sink,
        config.gzip,
        config.site.offset_unit,
        config.site.window_end,
        config.site.domain_id,
    )
    plan = planner.build(config, int(time.time() * 1000), store.last_end)
    previous = checkpoints.read_state(out)
    if previous and not previous.complete and previous.fingerprint.startswith(settings):
        spans = {name: (span[0], span[1]) for name, span in previous.spans.items()}
        if set(spans) == {s.name for s in plan.streams}:
            log.info("resuming the unfinished run in %s", out)
            plan = planner.Plan(spans, plan.streams, plan.window_ms, plan.settled_until)
    plan_id = settings + checkpoints.fingerprint(_spans(plan))
    checkpoints.write_state(out, RunState(plan_id, _spans(plan), complete=False))
    return plan, plan_id


def _spans(plan: planner.Plan) -> dict[str, list[int]]:
    return {name: [since, until] for name, (since, until) in plan.spans.items()}
