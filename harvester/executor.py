"""Executors: where a unit's pages are fetched and written.

The engine decides which units run and when, and keeps the report and the
checkpoints; an executor does one unit's work and hands back what it left.
`LocalExecutor` does it in this process; `harvester.cluster` does it on
Ray workers. Either way the engine sees the same three calls.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import anyio
import orjson

from harvester import sinks
from harvester.config import RunConfig, Secrets
from harvester.fetch import Client, open_session
from harvester.limits import Buckets
from harvester.pages import Record
from harvester.paging import Pager
from harvester.plan import Unit
from harvester.sinks import Committed, Sink


@dataclass(frozen=True, slots=True)
class Task:
    """One unit to run, with what the engine decided about it."""

    unit: Unit
    page_size: int | None
    # The field whose values name the partitions of child streams, if any.
    partition_field: str | None = None


@dataclass(frozen=True, slots=True)
class UnitWork:
    """What a unit left in its sink, and what it learnt on the way."""

    committed: Committed
    pages: int
    mended: dict[str, int] = field(default_factory=dict)
    partitions: frozenset[str] = frozenset()


# Told the partitions a page names, as soon as they are known.
Found = Callable[[set[str]], None]
# Told a unit's work once it is durable; runs shielded from cancellation.
Done = Callable[[UnitWork], Awaitable[None]]


class Executor(Protocol):
    """Runs units' work for the engine."""

    @property
    def tokens_issued(self) -> int:
        """IAM tokens issued to this executor's processes so far."""
        ...

    async def harvest(self, task: Task, found: Found, done: Done) -> None:
        """Fetch and write every page of a unit, then commit it.

        `done` is awaited once the unit is committed, shielded, so the
        engine's checkpoint follows durable data even when the run stops.

        Raises:
            HarvestError: the unit cannot be completed (SiteError: nothing
                can be, so the run stops).
            OSError: its output cannot be written.
        """
        ...

    async def discover(self, task: Task, found: Found) -> None:
        """Read a parent unit only for the partitions it names."""
        ...


class LocalExecutor:
    """Runs each unit in this process, through one pager into one sink."""

    def __init__(self, pager: Pager, sink: Sink, client: Client | None = None) -> None:
        self._pager = pager
        self._sink = sink
        self._client = client

    @property
    def tokens_issued(self) -> int:
        """IAM tokens this process has been issued so far."""
        return self._client.tokens.issued if self._client else 0

    async def harvest(self, task: Task, found: Found, done: Done) -> None:
        unit = task.unit
        writer = self._sink.open(unit)
        pages = 0
        mended: Counter[str] = Counter()
        named: set[str] = set()
        try:
            async for page in self._pager.pages(unit, task.page_size):
                writer.write(page.records)
                pages += 1
                mended += page.mended
                if task.partition_field:
                    fresh = partitions(page.records, task.partition_field)
                    named |= fresh
                    found(fresh)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await writer.abort()
            raise
        with anyio.CancelScope(shield=True):
            # Once the data is durable its checkpoint must follow, even if
            # the run is being stopped.
            try:
                committed = await writer.commit()
            except BaseException:
                await writer.abort()
                raise
            await done(UnitWork(committed, pages, dict(mended), frozenset(named)))

    async def discover(self, task: Task, found: Found) -> None:
        assert task.partition_field is not None
        async for page in self._pager.pages(task.unit, task.page_size):
            found(partitions(page.records, task.partition_field))


@asynccontextmanager
async def local_executor(
    config: RunConfig, secrets: Secrets, out: Path, buckets: Buckets, run_ms: int
) -> AsyncIterator[LocalExecutor]:
    """A session, client, pager and sink for this process; closed on leaving.

    Raises:
        ConfigError: the sink's settings cannot be used.
    """
    sink = sinks.create(
        config.sink,
        out,
        gzip=config.gzip,
        settings=config.sink_settings,
        run_ms=run_ms,
    )
    try:
        async with open_session(config.site) as session:
            client = Client(
                session,
                config.site,
                secrets,
                buckets,
                attempts=config.attempts,
                timeout_s=config.timeout_s,
            )
            pager = Pager(client, config.site, job_timeout_s=config.sdr_job_timeout_s)
            yield LocalExecutor(pager, sink, client)
    finally:
        await sink.close()


def partitions(records: Iterable[Record], name: str) -> set[str]:
    """The values of field `name` that `records` carry."""
    return {value for record in records if (value := _field(record, name))}


def _field(record: Record, name: str) -> str | None:
    # Parent streams are small (one record per host an hour), so parsing
    # their records here costs little.
    try:
        value = orjson.loads(memoryview(record))
    except orjson.JSONDecodeError:
        return None
    if not isinstance(value, dict):
        return None
    # The reference's host_detail sample is cut short before the host id;
    # match the field name in any case in case a site spells it otherwise.
    found = value.get(name)
    if found is None:
        lowered = name.lower()
        found = next((v for k, v in value.items() if k.lower() == lowered), None)
    return str(found) if found not in (None, "") else None
