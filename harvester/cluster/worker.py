"""One worker of a cluster run: a unit's work, far from the driver.

A worker has its own event loop, HTTP session, IAM token, sink and view
of the budget; it writes each unit to the output location atomically, as
a local run does, and hands back what the unit left. It never touches
checkpoints or the manifest: the driver alone writes those.

This module does not import Ray: the driver wraps `HarvestWorker` as an actor,
so the class stays testable as plain Python.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harvester import logs, sinks
from harvester.budget import open_budget
from harvester.config import RunConfig, Secrets
from harvester.errors import HarvestError
from harvester.executor import LocalExecutor, Task, UnitWork
from harvester.fetch import Client, open_session
from harvester.limits import Buckets, GrantsFactory, LocalGrants
from harvester.paging import Pager

# How long closing waits for units still aborting after a cancel.
DRAIN_S = 10.0


@dataclass(frozen=True, slots=True)
class Failed:
    """A unit's work ended in an error the engine knows how to treat."""

    error: HarvestError | OSError


@dataclass(frozen=True, slots=True)
class Tallies:
    """What a worker has sent so far: counters per bucket, tokens issued."""

    buckets: dict[str, dict[str, Any]]
    tokens_issued: int


@dataclass(frozen=True, slots=True)
class Reply:
    """A unit's outcome, and the worker's counters as it ended.

    The counters ride along so that what a worker sent is known up to its
    last finished unit, even if it dies before the driver next asks.
    """

    outcome: UnitWork | set[str] | Failed
    tallies: Tallies


def split_budget(workers: int) -> GrantsFactory:
    """Grants that give each of `workers` processes an equal share of a bucket.

    Without a shared budget this keeps the sum within the limit; a share
    left by a worker that died stays unused.
    """

    def grants(path: str, limit: int, period: float) -> LocalGrants:
        return LocalGrants(limit // workers, period)

    return grants


class HarvestWorker:
    """Runs units for the driver; one per process."""

    def __init__(
        self,
        config: RunConfig,
        secrets: Secrets,
        out: str,
        *,
        workers: int,
        run_ms: int,
        log_level: int = logging.WARNING,
        log_format: str = "text",
    ) -> None:
        self._config = config
        self._secrets = secrets
        self._out = Path(out)
        self._workers = workers
        self._run_ms = run_ms
        self._log = (log_level, log_format)
        self._stack = contextlib.AsyncExitStack()
        self._buckets: Buckets | None = None
        self._client: Client | None = None
        self._local: LocalExecutor | None = None
        self._running: set[asyncio.Task[Any]] = set()

    async def start(self) -> int | Failed:
        """Open the session, budget and sink; this worker's process id."""
        # Ray has its own handlers on a worker's root logger; ours go first.
        logs.configure(*self._log, force=True)
        logs.mask(self._secrets.password, self._secrets.app_code)
        try:
            await self._open()
        except (HarvestError, OSError) as error:
            await self._stack.aclose()
            return Failed(error)
        return os.getpid()

    async def _open(self) -> None:
        config = self._config
        grants: GrantsFactory
        if config.budget.kind == "local":
            grants = split_budget(self._workers)
        else:
            grants = await self._stack.enter_async_context(
                open_budget(config, self._secrets)
            )
        overrides = {p: (b.limit, b.period) for p, b in config.buckets.items()}
        self._buckets = Buckets(overrides, grants=grants)
        session = await self._stack.enter_async_context(open_session(config.site))
        self._client = Client(
            session,
            config.site,
            self._secrets,
            self._buckets,
            attempts=config.attempts,
            timeout_s=config.timeout_s,
        )
        pager = Pager(self._client, config.site, job_timeout_s=config.sdr_job_timeout_s)
        sink = sinks.create(
            config.sink,
            self._out,
            gzip=config.gzip,
            settings=config.sink_settings,
            run_ms=self._run_ms,
        )
        self._stack.push_async_callback(sink.close)
        self._local = LocalExecutor(pager, sink)

    async def harvest(self, task: Task) -> Reply:
        """One unit, committed; or the error that stopped it."""
        assert self._local is not None
        finished: list[UnitWork] = []

        async def done(work: UnitWork) -> None:
            finished.append(work)

        with self._tracked():
            try:
                await self._local.harvest(task, _ignore, done)
            except (HarvestError, OSError) as error:
                return Reply(Failed(error), self.tallies())
        return Reply(finished[0], self.tallies())

    async def discover(self, task: Task) -> Reply:
        """The partitions a parent unit names; or the error that stopped it."""
        assert self._local is not None
        named: set[str] = set()
        with self._tracked():
            try:
                await self._local.discover(task, named.update)
            except (HarvestError, OSError) as error:
                return Reply(Failed(error), self.tallies())
        return Reply(named, self.tallies())

    def tallies(self) -> Tallies:
        """This worker's counters so far."""
        buckets = {
            bucket.path: {
                "limit": bucket.limit,
                "period": bucket.period,
                **asdict(bucket.counters),
            }
            for bucket in self._buckets or ()
        }
        issued = self._client.tokens.issued if self._client else 0
        return Tallies(buckets, issued)

    async def close(self) -> None:
        """Let units being cancelled finish aborting, then close everything."""
        if self._running:
            await asyncio.wait(self._running, timeout=DRAIN_S)
        await self._stack.aclose()

    @contextlib.contextmanager
    def _tracked(self) -> Iterator[None]:
        task = asyncio.current_task()
        assert task is not None
        self._running.add(task)
        try:
            yield
        finally:
            self._running.discard(task)


def _ignore(named: set[str]) -> None:
    """Partitions travel back with the unit's result instead."""
