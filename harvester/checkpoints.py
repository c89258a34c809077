"""Checkpoints: which units of an output directory are safely done.

`checkpoints.ndjson` is an append-only log, one line per committed unit,
written only after the unit's data is synced and renamed into place, and
synced itself before the next unit is reported done. So a checkpoint never
points past data on disk, and a crash loses at most the line being
written, which `load` recognises as torn and drops: that unit is redone.

`run.json` keeps the span a run resolved (`since`, `until`) with the
settings it was resolved from, so rerunning an interrupted command
resumes the same span even when the command says `-1d`.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger(__name__)

LOG = "checkpoints.ndjson"
RUN_STATE = "run.json"


@dataclass(frozen=True, slots=True)
class RunState:
    """The span of the latest run in a directory, and whether it finished."""

    fingerprint: str
    spans: dict[str, list[int]]
    complete: bool


class CheckpointStore:
    """The completed units of one output directory."""

    def __init__(self, out: Path) -> None:
        self._out = out
        self._path = out / LOG
        self.completed: dict[str, dict[str, Any]] = {}
        self.torn = 0

    def load(self) -> CheckpointStore:
        """Read the log; a torn last line is dropped and counted."""
        try:
            lines = self._path.read_bytes().splitlines()
        except FileNotFoundError:
            return self
        for line in lines:
            try:
                entry = orjson.loads(line)
            except orjson.JSONDecodeError:
                self.torn += 1
                continue
            # Only units whose file is still there are done: records that
            # went to stdout, or were deleted since, are taken again.
            if (self._out / entry["location"]).is_file():
                self.completed[entry["unit"]] = entry
        if self.torn:
            log.warning("%s: dropped %d torn checkpoint line(s)", self._path, self.torn)
        return self

    def record(self, entry: dict[str, Any]) -> None:
        """Append one completed unit and sync it to disk."""
        self._out.mkdir(parents=True, exist_ok=True)
        with open(self._path, "ab") as handle:
            handle.write(orjson.dumps(entry) + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        self.completed[entry["unit"]] = entry

    def last_end(self, stream: str) -> int | None:
        """End of the latest completed window of `stream`, if any."""
        ends = [
            entry["window"][1]
            for entry in self.completed.values()
            if entry["stream"] == stream and entry["window"]
        ]
        return max(ends, default=None)


def read_state(out: Path) -> RunState | None:
    """The state of the latest run in `out`, if one was started there."""
    try:
        data = orjson.loads((out / RUN_STATE).read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return None
    return RunState(data["fingerprint"], data["spans"], data["complete"])


def write_state(out: Path, state: RunState) -> None:
    """Replace the run state atomically."""
    out.mkdir(parents=True, exist_ok=True)
    temporary = out / f".{RUN_STATE}.{os.getpid()}.tmp"
    temporary.write_bytes(orjson.dumps({
        "fingerprint": state.fingerprint,
        "spans": state.spans,
        "complete": state.complete,
    }))  # fmt: skip
    os.replace(temporary, out / RUN_STATE)


def fingerprint(*parts: object) -> str:
    """A short digest of the settings that decide a run's units."""
    return hashlib.sha256(orjson.dumps(parts, default=str)).hexdigest()[:16]


def remove_leftovers(out: Path) -> int:
    """Delete temporary files a killed run left behind; how many there were."""
    removed = 0
    if out.exists():
        for path in out.rglob(".*.tmp"):
            path.unlink(missing_ok=True)
            removed += 1
    return removed
