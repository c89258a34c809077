"""Live progress of a run, per bucket, on standard error only.

On a terminal a table is redrawn in place (rich): per bucket the requests
sent of those planned, the rate against the budget, 429s, units and
records done, and the time left at the bucket's rate. Off a terminal a
line is logged every few seconds (event `run.progress`), so it follows
the log format chosen, text or JSON. Nothing is ever written to standard
output, which may carry records.

The view only reads what the engine keeps anyway: `Buckets` (counters)
and `RunReport` (units done); the planned figures come from the forecast.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import TextIO

from rich.console import Console
from rich.live import Live
from rich.table import Table

from harvester import catalog, logs
from harvester.estimate import Estimate
from harvester.limits import Bucket, margin
from harvester.manifest import RunReport

log = logging.getLogger(__name__)

LIVE_INTERVAL_S = 0.5
LINE_INTERVAL_S = 5.0
RATE_SPAN_S = 10.0
NAMES = {e.bucket: e.name for e in catalog.ENDPOINTS}


@dataclass(slots=True)
class Row:
    """One bucket's progress at one moment."""

    bucket: str
    requests: int = 0
    planned: int = 0
    rate: float = 0.0
    budget_rate: float = 0.0
    throttled: int = 0
    units: int = 0
    planned_units: int = 0
    records: int = 0

    @property
    def eta_s(self) -> float:
        """Seconds the bucket still needs at its budget's rate."""
        left = max(0, self.planned - self.requests)
        return left / self.budget_rate if self.budget_rate else 0.0


class Progress:
    """Gathers per-bucket rows from live objects; renders them two ways."""

    def __init__(
        self,
        buckets: Iterable[Bucket],
        report: RunReport,
        forecast: Estimate | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._buckets = buckets
        self._report = report
        self._clock = clock
        self._started = clock()
        self._rows: dict[str, Row] = {}
        self._samples: dict[str, deque[tuple[float, int]]] = {}
        self._counted = 0
        for planned in forecast.buckets if forecast else ():
            self._rows[planned.bucket] = Row(
                planned.bucket,
                planned=planned.requests,
                budget_rate=_budget_rate(planned.limit, planned.period_s),
                planned_units=planned.units,
            )

    def rows(self) -> list[Row]:
        """Every bucket planned or used, busiest first."""
        now = self._clock()
        for bucket in self._buckets:
            row = self._rows.setdefault(bucket.path, Row(bucket.path))
            row.requests = bucket.counters.requests
            # A forecast from one page a unit can fall short; never show
            # more requests done than planned.
            row.planned = max(row.planned, row.requests)
            row.throttled = bucket.counters.throttled
            row.budget_rate = bucket.rate
            row.rate = self._rate(bucket.path, now, row.requests)
        # The report only grows: each unit is counted once.
        for unit in self._report.units[self._counted :]:
            path = catalog.stream(unit.stream).bucket
            row = self._rows.setdefault(path, Row(path))
            row.units += 1
            row.records += unit.records
        self._counted = len(self._report.units)
        for row in self._rows.values():
            row.planned_units = max(row.planned_units, row.units)
        return sorted(
            self._rows.values(), key=lambda r: (-r.eta_s, -r.planned, r.bucket)
        )

    def table(self) -> Table:
        """The rows as a rich table, time elapsed and left in its title."""
        rows = self.rows()
        elapsed = self._clock() - self._started
        eta = max((r.eta_s for r in rows), default=0.0)
        table = Table(
            title=f"run {self._report.run_id[:8]}: {_duration(elapsed)} elapsed, "
            f"about {_duration(eta)} left",
            title_justify="left",
        )
        for column in ("bucket", "requests", "rate/s", "429", "units", "records"):
            table.add_column(column, justify="left" if column == "bucket" else "right")
        table.add_column("left", justify="right")
        for row in rows:
            table.add_row(
                NAMES.get(row.bucket, row.bucket),
                f"{row.requests}/{row.planned}",
                _rates(row.rate, row.budget_rate),
                str(row.throttled),
                f"{row.units}/{row.planned_units}",
                str(row.records),
                _duration(row.eta_s),
            )
        return table

    def line(self) -> tuple[str, dict[str, object]]:
        """A one-line summary and its fields, for a log line."""
        rows = self.rows()
        eta = max((r.eta_s for r in rows), default=0.0)
        fields: dict[str, object] = {
            "requests": sum(r.requests for r in rows),
            "planned": sum(r.planned for r in rows),
            "throttled": sum(r.throttled for r in rows),
            "units": sum(r.units for r in rows),
            "records": sum(r.records for r in rows),
            "eta_s": round(eta, 1),
        }
        text = (
            "{requests}/{planned} requests, {units} units, {records} records, "
            "{throttled} throttled".format_map(fields)
            + f", about {_duration(eta)} left"
        )
        if rows:
            text += f"; busiest {NAMES.get(rows[0].bucket, rows[0].bucket)}"
            fields["bucket"] = rows[0].bucket
        return text, fields

    def _rate(self, path: str, now: float, requests: int) -> float:
        samples = self._samples.setdefault(path, deque())
        samples.append((now, requests))
        while len(samples) > 2 and now - samples[0][0] > RATE_SPAN_S:
            samples.popleft()
        then, before = samples[0]
        return (requests - before) / (now - then) if now > then else 0.0


@contextlib.asynccontextmanager
async def shown(
    buckets: Iterable[Bucket],
    report: RunReport,
    forecast: Estimate | None = None,
    *,
    quiet: bool = False,
    stream: TextIO | None = None,
    interval_s: float | None = None,
) -> AsyncIterator[Progress]:
    """Show progress while the body runs; `quiet` shows nothing.

    `stream` is where a terminal view is drawn (standard error by default);
    off a terminal a line is logged every `interval_s` (5 s by default).
    """
    progress = Progress(buckets, report, forecast)
    console = Console(file=stream or sys.stderr, stderr=stream is None)
    if quiet:
        yield progress
    elif console.is_terminal:
        async with _live(progress, console, interval_s or LIVE_INTERVAL_S):
            yield progress
    else:
        async with _ticking(lambda: _log_line(progress), interval_s or LINE_INTERVAL_S):
            yield progress


@contextlib.asynccontextmanager
async def _live(
    progress: Progress, console: Console, interval_s: float
) -> AsyncIterator[None]:
    # Refreshed from the event loop, not rich's thread, so the rows are
    # read where the engine writes them. Standard error is redirected
    # above the table while it shows (log lines); standard output is not.
    with Live(
        progress.table(),
        console=console,
        auto_refresh=False,
        redirect_stdout=False,
        redirect_stderr=True,
    ) as live:
        async with _ticking(
            lambda: live.update(progress.table(), refresh=True), interval_s
        ):
            yield


@contextlib.asynccontextmanager
async def _ticking(tick: Callable[[], None], interval_s: float) -> AsyncIterator[None]:
    async def repeat() -> None:
        while True:
            await asyncio.sleep(interval_s)
            tick()

    task = asyncio.create_task(repeat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        tick()


def _log_line(progress: Progress) -> None:
    text, fields = progress.line()
    log.info("%s", text, extra=logs.event("run.progress", **fields))


def _budget_rate(limit: int, period_s: float) -> float:
    return limit / (period_s + margin(period_s))


def _rates(rate: float, budget: float) -> str:
    digits = 1 if budget < 100 else 0
    return f"{rate:.{digits}f}/{budget:.{digits}f}"


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
