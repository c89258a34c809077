"""Standard output: one JSON line per record, naming its stream.

Each line is `{"stream": "<name>", "record": <record as the site sent it>}`.
A unit's lines are held in a spooled temporary file and written out in one
piece when the unit commits, so units never interleave and an abandoned
unit prints nothing.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Sequence
from typing import BinaryIO

import orjson

from harvester.pages import Record
from harvester.plan import Unit
from harvester.sinks import Committed, Tally

SPOOL_BYTES = 16 << 20


class StdoutWriter:
    """Holds one unit's lines until commit."""

    def __init__(self, unit: Unit, target: BinaryIO) -> None:
        self._prefix = b'{"stream":' + orjson.dumps(unit.stream.name) + b',"record":'
        self._joint = b"}\n" + self._prefix
        self._spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
        self._target = target
        self._tally = Tally()

    def write(self, records: Sequence[Record]) -> None:
        if not records:
            return
        self._tally.add(records)
        self._spool.write(self._prefix + self._joint.join(records) + b"}\n")

    async def commit(self) -> Committed:
        self._spool.seek(0)
        shutil.copyfileobj(self._spool, self._target)
        self._target.flush()
        self._spool.close()
        return self._tally.committed("stdout")

    async def abort(self) -> None:
        self._spool.close()


class StdoutSink:
    """Writes every record to standard output."""

    def __init__(self, target: BinaryIO | None = None) -> None:
        self._target = target or sys.stdout.buffer

    def open(self, unit: Unit) -> StdoutWriter:
        return StdoutWriter(unit, self._target)

    async def close(self) -> None:
        self._target.flush()
