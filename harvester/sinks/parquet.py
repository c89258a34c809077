"""Parquet files: one dataset per stream, partitioned by day, Hive style.

Layout under the output directory:

    parquet/stream=<stream>/day=<YYYY-MM-DD>/<window>__<partition>.parquet

`day` is the UTC date a unit's window begins, or the date the run's span
ends for streams without a window; `<window>` is as in the NDJSON layout
(`snapshot` for those streams) and `<partition>` is `all` or
`<key>-<value>` (`host_id-...`). DuckDB, Spark, pandas and pyarrow read
`parquet/` as a Hive-partitioned dataset; read it with union-by-name
(DuckDB's `union_by_name = true`) when a site's records vary in fields.

Columns are described in `harvester.sinks.columns`: bookkeeping, one
text column per field as sent with a typed twin where the reference gives
a type, and the raw record. A file is zstd-compressed and written whole
at commit: to a hidden temporary file, synced, then renamed over any file
an earlier run left for the same unit, so a rerun replaces and a reader
never sees part of a unit. A unit without records leaves no file (and
removes an earlier one). The unit's pages are held in memory as Arrow
columns until its commit, so memory grows with the largest unit: cut
long windows shorter for very large streams.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pyarrow as pa
import pyarrow.parquet as pq

from harvester.pages import Record
from harvester.plan import Unit
from harvester.sinks import Committed, SinkError, Tally
from harvester.sinks.columns import page_table, unit_table

COMPRESSION = "zstd"
DATASET = "parquet"


class ParquetWriter:
    """Holds one unit's pages as Arrow columns and writes its file on commit."""

    def __init__(self, unit: Unit, final: Path) -> None:
        self._unit = unit
        self._final = final
        self._pages: list[pa.Table] = []
        self._tally = Tally()

    def write(self, records: Sequence[Record]) -> None:
        if not records:
            return
        self._tally.add(records)
        self._pages.append(page_table(records))

    async def commit(self) -> Committed:
        try:
            await anyio.to_thread.run_sync(self._publish)
        except (OSError, pa.ArrowException) as error:
            raise SinkError(self._unit.key, f"cannot write Parquet: {error}") from error
        finally:
            self._pages.clear()
        return self._tally.committed(str(self._final))

    async def abort(self) -> None:
        self._pages.clear()

    def _publish(self) -> None:
        self._final.parent.mkdir(parents=True, exist_ok=True)
        if not self._pages:
            self._final.unlink(missing_ok=True)
            _sync_directory(self._final.parent)
            return
        table = unit_table(self._pages, self._unit)
        temporary = self._final.with_name(f".{self._final.name}.{os.getpid()}.tmp")
        try:
            pq.write_table(table, temporary, compression=COMPRESSION)
            with open(temporary, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(temporary, self._final)
        finally:
            temporary.unlink(missing_ok=True)
        _sync_directory(self._final.parent)


class ParquetSink:
    """Writes each unit to its own Parquet file in a per-stream dataset."""

    def __init__(self, out: Path, *, run_ms: int) -> None:
        self._root = out / DATASET
        self._run_day = _day(run_ms)

    def open(self, unit: Unit) -> ParquetWriter:
        return ParquetWriter(unit, self.path_of(unit))

    def path_of(self, unit: Unit) -> Path:
        """Where `unit`'s records end up: a function of the unit key."""
        window = unit.window
        day = _day(window.begin) if window else self._run_day
        label = window.label if window else "snapshot"
        partition = unit.file_stem.replace("=", "-")
        stream = f"stream={unit.stream.name}"
        return self._root / stream / f"day={day}" / f"{label}__{partition}.parquet"

    async def close(self) -> None:
        """Nothing is held between units."""


def _day(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).date().isoformat()


def _sync_directory(path: Path) -> None:
    # The rename (or removal) itself must survive a crash, not only the data.
    directory = os.open(path, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
