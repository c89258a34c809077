"""Several sinks at once: every page of a unit goes to each of them.

`create("ndjson+parquet", ...)` (`[sink] kind = ["ndjson", "parquet"]`)
builds one. A unit commits in every sink, side by side, and aborts in
every sink. Its `Committed` counts and checksum are the same in every
sink (each hashes the unit's records as NDJSON lines); the location
reported is the first NDJSON sink's when there is one, since checkpoints
and the engine read records back from NDJSON files, and the first sink's
otherwise.

If a sink fails to commit, the unit fails with that sink's error; the
sinks that did commit keep the unit until a rerun replaces it there.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

import anyio

from harvester.pages import Record
from harvester.plan import Unit
from harvester.sinks import Committed, Sink, UnitWriter
from harvester.sinks.ndjson import NdjsonSink

log = logging.getLogger(__name__)


class MultiWriter:
    """One unit's writers, one per sink, driven as one."""

    def __init__(self, writers: Sequence[UnitWriter], lead: int) -> None:
        self._writers = writers
        self._lead = lead

    def write(self, records: Sequence[Record]) -> None:
        for writer in self._writers:
            writer.write(records)

    async def commit(self) -> Committed:
        outcomes: list[Committed | Exception | None] = [None] * len(self._writers)

        async def commit_one(index: int) -> None:
            try:
                outcomes[index] = await self._writers[index].commit()
            except Exception as error:
                outcomes[index] = error

        async with anyio.create_task_group() as group:
            for index in range(len(self._writers)):
                group.start_soon(commit_one, index)
        committed = []
        for outcome in outcomes:
            if isinstance(outcome, Exception):
                raise outcome
            assert outcome is not None
            committed.append(outcome)
        return replace(committed[0], location=committed[self._lead].location)

    async def abort(self) -> None:
        await _each([writer.abort for writer in self._writers])


class MultiSink:
    """Hands every unit to several sinks."""

    def __init__(self, sinks: Sequence[Sink]) -> None:
        self.sinks = tuple(sinks)
        files = [i for i, sink in enumerate(sinks) if isinstance(sink, NdjsonSink)]
        self._lead = files[0] if files else 0

    def open(self, unit: Unit) -> MultiWriter:
        # Should a sink fail to open, the temporary files of those opened
        # before it are left for the next run's clean-up of leftovers.
        return MultiWriter([sink.open(unit) for sink in self.sinks], self._lead)

    async def close(self) -> None:
        """Close every sink, each in its own step; raise the first failure."""
        await _each([sink.close for sink in self.sinks])


async def _each(steps: Sequence[Callable[[], Awaitable[None]]]) -> None:
    # One sink failing must not leave the others unflushed or half-aborted.
    failure: Exception | None = None
    for step in steps:
        try:
            await step()
        except Exception as error:
            log.error("a sink failed to let go of its unit or close: %s", error)
            failure = failure or error
    if failure is not None:
        raise failure
