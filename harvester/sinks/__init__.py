"""Sinks: where records go.

A sink opens one writer per unit. The writer takes pages of raw record
bytes and makes them visible only on `commit`; `abort` leaves no trace.
A new sink is a class with `open` and `close` registered in `SINKS`; the
engine knows nothing else about it. Several sinks can take the same run:
`create("ndjson+parquet", ...)` hands every page to both.

A unit may be committed again by a later run (after a crash between a
sink's commit and the engine's checkpoint, or on a rerun): every sink
replaces what the unit left before, never adds to it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from harvester.config import SinkConfig
from harvester.errors import HarvestError
from harvester.pages import Record
from harvester.plan import Unit


class SinkError(HarvestError):
    """Raised when a sink cannot store or commit a unit's records."""

    def __init__(self, unit: str, problem: str) -> None:
        self.unit = unit
        super().__init__(f"{unit}: {problem}")


@dataclass(frozen=True, slots=True)
class Committed:
    """What a unit left in its sink."""

    records: int
    bytes: int
    sha256: str
    location: str


class Tally:
    """A unit's record count, bytes and sha256, taken over its NDJSON form.

    Every sink tallies alike, so a unit's manifest entry is the same
    whichever sink wrote it.
    """

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.records = 0
        self.bytes = 0

    def add(self, records: Sequence[Record]) -> bytes:
        """Count one page; its records as NDJSON lines."""
        data = b"\n".join(records) + b"\n"
        self._hash.update(data)
        self.records += len(records)
        self.bytes += len(data)
        return data

    def committed(self, location: str) -> Committed:
        """The tally of a unit committed to `location`."""
        return Committed(self.records, self.bytes, self._hash.hexdigest(), location)


class UnitWriter(Protocol):
    """Receives one unit's records; nothing shows until `commit`."""

    def write(self, records: Sequence[Record]) -> None:
        """Take one page of records, each the JSON bytes of one record."""

    async def commit(self) -> Committed:
        """Make the unit's records visible, durably, all at once."""

    async def abort(self) -> None:
        """Drop whatever was written for the unit."""


class Sink(Protocol):
    """A destination for the records of a run."""

    def open(self, unit: Unit) -> UnitWriter:
        """A writer for `unit`'s records."""

    async def close(self) -> None:
        """Flush and release whatever the sink holds."""


@dataclass(frozen=True, slots=True)
class SinkOptions:
    """What a sink may need besides the output directory.

    `run_ms` is when the run's span ends: the Parquet sink files units
    without a window under that day.
    """

    gzip: bool = False
    settings: SinkConfig = field(default_factory=SinkConfig)
    run_ms: int = 0


def create(
    kind: str,
    out: Path,
    *,
    gzip: bool = False,
    settings: SinkConfig | None = None,
    run_ms: int | None = None,
) -> Sink:
    """The sink called `kind` writing under `out`.

    `kind` is one name from `SINKS`, or several joined by `+`
    (`ndjson+parquet`), which run side by side on every unit.

    Raises:
        KeyError: no sink has that name.
        ConfigError: a sink's settings cannot be used (a password variable
            named but unset).
    """
    factories = [SINKS[name] for name in kind.split("+")]
    options = SinkOptions(
        gzip=gzip,
        settings=settings or SinkConfig(),
        run_ms=int(time.time() * 1000) if run_ms is None else run_ms,
    )
    made = [factory(out, options) for factory in factories]
    if len(made) == 1:
        return made[0]
    from harvester.sinks.multi import MultiSink

    return MultiSink(made)


def _ndjson(out: Path, options: SinkOptions) -> Sink:
    from harvester.sinks.ndjson import NdjsonSink

    return NdjsonSink(out, gzip=options.gzip)


def _stdout(out: Path, options: SinkOptions) -> Sink:
    from harvester.sinks.stdout import StdoutSink

    return StdoutSink()


def _parquet(out: Path, options: SinkOptions) -> Sink:
    from harvester.sinks.parquet import ParquetSink

    return ParquetSink(out, run_ms=options.run_ms)


def _postgres(out: Path, options: SinkOptions) -> Sink:
    from harvester.sinks.postgres import PostgresSink

    return PostgresSink.from_settings(options.settings)


SINKS: dict[str, Callable[[Path, SinkOptions], Sink]] = {
    "ndjson": _ndjson,
    "stdout": _stdout,
    "parquet": _parquet,
    "postgres": _postgres,
}
