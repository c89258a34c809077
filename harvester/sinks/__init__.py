"""Sinks: where records go.

A sink opens one writer per unit. The writer takes pages of raw record
bytes and makes them visible only on `commit`; `abort` leaves no trace.
A new sink is a class with `open` and `close` registered in `SINKS`; the
engine knows nothing else about it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from harvester.pages import Record
from harvester.plan import Unit


@dataclass(frozen=True, slots=True)
class Committed:
    """What a unit left in its sink."""

    records: int
    bytes: int
    sha256: str
    location: str


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


def create(kind: str, out: Path, *, gzip: bool = False) -> Sink:
    """The sink called `kind` writing under `out`.

    Raises:
        KeyError: no sink has that name.
    """
    return SINKS[kind](out, gzip)


def _ndjson(out: Path, gzip: bool) -> Sink:
    from harvester.sinks.ndjson import NdjsonSink

    return NdjsonSink(out, gzip=gzip)


def _stdout(out: Path, gzip: bool) -> Sink:
    from harvester.sinks.stdout import StdoutSink

    return StdoutSink()


SINKS: dict[str, Callable[[Path, bool], Sink]] = {"ndjson": _ndjson, "stdout": _stdout}
