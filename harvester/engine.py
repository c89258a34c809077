"""The scheduler: runs every unit of a plan, all buckets at once.

Units start together and queue on their bucket, so the run lasts about
as long as its busiest bucket needs. Fan-out children start as soon as a
parent page names their partition. A unit that fails is reported and the
others go on; a site that refuses the credentials or cannot be reached
stops the whole run, since every unit would fail the same way. SIGINT and
SIGTERM stop it too: units in flight are abandoned without a trace,
completed ones stay checkpointed.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict

import anyio
from anyio import CancelScope
from anyio.abc import TaskGroup

from harvester import logs
from harvester.checkpoints import CheckpointStore
from harvester.config import RunConfig
from harvester.errors import HarvestError, ResponseError, SiteError, UnitError
from harvester.executor import Executor, Task, UnitWork
from harvester.manifest import RunReport
from harvester.plan import Plan, Unit

log = logging.getLogger(__name__)

UNITS_PER_BUCKET = 32


class Harvest:
    """One run of a plan, its units' work done by an executor."""

    def __init__(
        self,
        plan: Plan,
        config: RunConfig,
        executor: Executor,
        report: RunReport,
        store: CheckpointStore,
        *,
        plan_id: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._plan = plan
        self._config = config
        self._executor = executor
        self._report = report
        self._store = store
        self._plan_id = plan_id
        self._clock = clock
        self._seen: dict[str, set[str]] = {}
        self._unit_slots: dict[str, anyio.CapacityLimiter] = {}
        self.fatal: SiteError | None = None
        self.interrupted: int | None = None

    async def run(self, *, handle_signals: bool = False) -> RunReport:
        """Run every unit; the report says which failed and why.

        With `handle_signals`, SIGINT and SIGTERM end the run early and set
        `interrupted` to the signal's number.
        """
        log.info(
            "run %s started: %d streams",
            self._report.run_id,
            len(self._plan.streams),
            extra=logs.event("run.started", streams=len(self._plan.streams)),
        )
        async with anyio.create_task_group() as outer:
            if handle_signals:
                outer.start_soon(self._watch_signals, outer.cancel_scope)
            async with anyio.create_task_group() as units:
                for unit in self._plan.discovery(self._config.discovery_ms):
                    units.start_soon(self._discover, unit, units, name=unit.key)
                parents = {s.parent for s in self._plan.streams if s.parent}
                chains: dict[str, list[Unit]] = {}
                for unit in self._plan.root_units():
                    if unit.stream.name in parents:
                        chains.setdefault(unit.stream.name, []).append(unit)
                    else:
                        units.start_soon(self._run_unit, unit, units, name=unit.key)
                for name, chain in chains.items():
                    units.start_soon(self._run_chain, chain, units, name=name)
            outer.cancel_scope.cancel()
        self._report.finished = time.time()
        return self._report

    async def _watch_signals(self, scope: CancelScope) -> None:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as received:
            async for signum in received:
                self.interrupted = int(signum)
                name = signal.Signals(signum).name
                log.warning(
                    "%s received: abandoning units in flight",
                    name,
                    extra=logs.event("run.interrupted", signal=name),
                )
                scope.cancel()
                return

    async def _run_chain(self, chain: list[Unit], group: TaskGroup) -> None:
        # A parent stream's windows run one after another. Each starts the
        # units of every partition it names, so running them side by side
        # only piles up work waiting for slots, and memory with it; the
        # children of one window keep the buckets busy meanwhile.
        for unit in chain:
            await self._run_unit(unit, group)

    async def _run_unit(self, unit: Unit, group: TaskGroup) -> None:
        if await self._resume(unit, group):
            return
        async with self._slots(unit):
            started = self._clock()
            attempts = self._config.unit_attempts
            for attempt in range(1, attempts + 1):
                try:
                    await self._harvest(unit, group, started, attempt)
                    return
                except (UnitError, ResponseError) as error:
                    # The site answered, but not usably: a proxy's error
                    # page, a cut body, data that moved. Redo it a few times.
                    if attempt == attempts:
                        self._fail(unit, error, started, attempt)
                        return
                    log.warning(
                        "%s: %s; redoing the unit",
                        unit.key,
                        error,
                        extra=logs.event("unit.redo", **_fields(unit), attempt=attempt),
                    )
                except SiteError as error:
                    self.fatal = error
                    self._fail(unit, error, started, attempt)
                    group.cancel_scope.cancel()
                    return
                except HarvestError as error:
                    self._fail(unit, error, started, attempt)
                    return
                except OSError as error:
                    problem = f"cannot write its output: {error.strerror or error}"
                    self._fail(unit, UnitError(unit.key, problem), started, attempt)
                    return

    async def _discover(self, unit: Unit, group: TaskGroup) -> None:
        started = self._clock()
        try:
            await self._executor.discover(
                self._task(unit), lambda named: self._fan_out(unit, named, group)
            )
        except HarvestError as error:
            self._fail(
                unit, UnitError(f"{unit.key} (discovery)", str(error)), started, 1
            )

    async def _resume(self, unit: Unit, group: TaskGroup) -> bool:
        # A window holds the same records whichever run took it; a snapshot
        # is only the same within one plan.
        entry = self._store.completed.get(unit.key)
        if entry is None or (
            unit.window is None and entry.get("plan") != self._plan_id
        ):
            return False
        self._report.resumed(entry)
        self._fan_out(unit, entry.get("partitions", ()), group)
        return True

    async def _harvest(
        self, unit: Unit, group: TaskGroup, started: float, attempt: int
    ) -> None:
        async def done(work: UnitWork) -> None:
            seconds = self._clock() - started
            report = self._report.done(
                unit, work.committed, work.pages, seconds, attempt
            )
            report.mended = work.mended
            report.unsettled = not self._plan.settled(unit)
            # The partitions a parent named go in its checkpoint, so a
            # resumed run starts their children whatever sink holds it. An
            # unsettled window gets none: a later run must take it again.
            entry = {
                **asdict(report),
                "plan": self._plan_id,
                "partitions": sorted(work.partitions),
            }
            if not report.unsettled:
                await anyio.to_thread.run_sync(self._store.record, entry)
            log.info(
                "%s: %d records in %d pages, %.2f s",
                unit.key,
                work.committed.records,
                work.pages,
                seconds,
                extra=logs.event(
                    "unit.done",
                    **_fields(unit),
                    records=work.committed.records,
                    pages=work.pages,
                    seconds=round(seconds, 3),
                ),
            )

        await self._executor.harvest(
            self._task(unit), lambda named: self._fan_out(unit, named, group), done
        )

    def _fan_out(self, unit: Unit, named: Iterable[str], group: TaskGroup) -> None:
        """Start the children of every partition named that has none yet."""
        seen = self._seen.setdefault(unit.stream.name, set())
        for value in named:
            if value in seen:
                continue
            seen.add(value)
            for child in self._plan.children(unit.stream, value):
                group.start_soon(self._run_unit, child, group, name=child.key)

    def _task(self, unit: Unit) -> Task:
        return Task(unit, self._page_size(unit), self._partition_field(unit))

    def _partition_field(self, unit: Unit) -> str | None:
        for stream in self._plan.streams:
            if stream.parent == unit.stream.name and stream.partition_field:
                return stream.partition_field
        return None

    def _fail(
        self, unit: Unit, error: BaseException, started: float, attempts: int
    ) -> None:
        self._report.failed(unit, error, self._clock() - started, attempts)
        # Our own errors say all there is to say; anything else shows how
        # it came about.
        trace = None if isinstance(error, HarvestError) else error
        log.error(
            "%s failed: %s",
            unit.key,
            error,
            exc_info=trace,
            extra=logs.event("unit.failed", **_fields(unit), error=str(error)),
        )

    def _slots(self, unit: Unit) -> anyio.CapacityLimiter:
        # Bounded per bucket: a backfill of thousands of units must not
        # hold thousands of open files, and a slow bucket must not take
        # the places of a fast one.
        bucket = unit.stream.bucket
        if bucket not in self._unit_slots:
            self._unit_slots[bucket] = anyio.CapacityLimiter(UNITS_PER_BUCKET)
        return self._unit_slots[bucket]

    def _page_size(self, unit: Unit) -> int | None:
        settings = self._config.stream_settings.get(unit.stream.name)
        if settings and settings.page_size:
            return settings.page_size
        return unit.stream.page_size


def _fields(unit: Unit) -> dict[str, str]:
    return {"unit": unit.key, "stream": unit.stream.name, "bucket": unit.stream.bucket}
