"""NDJSON files: one file per unit, one record per line.

Layout under the output directory:

    <stream>/<window>/<partition>.ndjson[.gz]

`<window>` is `<begin>_<end>` in UTC (`20261203T000000.000Z`), or
`snapshot` for streams that take no window; `<partition>` is `all`, or
`<key>=<value>` for fan-out streams (`host_id=...`). A unit is written to a
hidden temporary file beside its final name, flushed and synced, then
renamed: a reader never sees part of a unit.
"""

from __future__ import annotations

import contextlib
import gzip as gzip_module
import os
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import anyio

from harvester.pages import Record
from harvester.plan import Unit
from harvester.sinks import Committed, Tally

# Big pages bypass the buffer anyway; small ones need no more than this,
# and every open unit holds one.
BUFFER_BYTES = 64 << 10


class NdjsonWriter:
    """Writes one unit to a temporary file and renames it on commit."""

    def __init__(self, final: Path, compress: bool) -> None:
        final.parent.mkdir(parents=True, exist_ok=True)
        self._final = final
        self._temporary = final.with_name(f".{final.name}.{os.getpid()}.tmp")
        self._raw = open(self._temporary, "wb", buffering=BUFFER_BYTES)
        self._file: BinaryIO = self._raw
        if compress:
            # mtime=0 keeps the bytes of a rerun identical to the first run's.
            self._file = gzip_module.GzipFile(  # type: ignore[assignment]
                fileobj=self._raw, mode="wb", compresslevel=6, mtime=0
            )
        self._tally = Tally()

    def write(self, records: Sequence[Record]) -> None:
        if not records:
            return
        self._file.write(self._tally.add(records))

    async def commit(self) -> Committed:
        await anyio.to_thread.run_sync(self._make_durable)
        return self._tally.committed(str(self._final))

    async def abort(self) -> None:
        # Closing flushes what is buffered, which fails again on a full
        # disk; the file is going anyway.
        for handle in (self._file, self._raw):
            with contextlib.suppress(OSError):
                handle.close()
        self._temporary.unlink(missing_ok=True)

    def _make_durable(self) -> None:
        self._file.close()
        self._raw.close()
        with open(self._temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(self._temporary, self._final)
        # A run with gzip switched over replaces the unit's other form too.
        other = self._final.name.removesuffix(".gz")
        if other == self._final.name:
            other += ".gz"
        self._final.with_name(other).unlink(missing_ok=True)
        directory = os.open(self._final.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


class NdjsonSink:
    """Writes each unit to its own NDJSON file under `out`."""

    def __init__(self, out: Path, *, gzip: bool = False) -> None:
        self._out = out
        self._gzip = gzip

    def open(self, unit: Unit) -> NdjsonWriter:
        return NdjsonWriter(self.path_of(unit), self._gzip)

    def path_of(self, unit: Unit) -> Path:
        """Where `unit`'s records end up."""
        window = unit.window.label if unit.window else "snapshot"
        suffix = ".ndjson.gz" if self._gzip else ".ndjson"
        return self._out / unit.stream.name / window / f"{unit.file_stem}{suffix}"

    async def close(self) -> None:
        """Nothing is held between units."""
