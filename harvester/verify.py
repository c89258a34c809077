"""Checking a harvest against the emulator's ground truth.

For each stream of a run, the records the emulator holds for the run's
windows are compared with the records the run committed: as multisets of
canonical JSON, so a record re-encoded onto one line still matches.
"""

from __future__ import annotations

import gzip
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import msgspec

from harvester import catalog, manifest
from harvester.errors import VerifyError
from harvester.plan import cut_windows

TRUTH = "/_emulator/truth"


@dataclass(frozen=True, slots=True)
class StreamCheck:
    """How one stream's harvest compares with ground truth."""

    stream: str
    expected: int
    harvested: int
    lost: int
    duplicated: int
    unexpected: int

    @property
    def exact(self) -> bool:
        return self.lost == self.duplicated == self.unexpected == 0


async def verify(out: Path, base_url: str) -> list[StreamCheck]:
    """Compare the run under `out` with the emulator at `base_url`.

    Raises:
        VerifyError: there is no manifest, or the run used a sink whose
            output cannot be read back.
    """
    try:
        run = manifest.load(out)
    except FileNotFoundError:
        raise VerifyError(f"no {manifest.MANIFEST} in {str(out)!r}") from None
    checks = []
    async with aiohttp.ClientSession(base_url) as session:
        for name, entry in run["streams"].items():
            truth = await _truth(session, name, entry)
            harvested = Counter(_canonical(_harvested_lines(name, entry["units"])))
            checks.append(compare(name, Counter(_canonical(truth)), harvested))
    return checks


def compare(
    stream: str, truth: Counter[bytes], harvested: Counter[bytes]
) -> StreamCheck:
    """The differences between two multisets of canonical records."""
    lost = sum(max(0, n - harvested[k]) for k, n in truth.items())
    duplicated = sum(max(0, n - truth[k]) for k, n in harvested.items() if k in truth)
    unexpected = sum(n for k, n in harvested.items() if k not in truth)
    return StreamCheck(
        stream, truth.total(), harvested.total(), lost, duplicated, unexpected
    )


async def _truth(
    session: aiohttp.ClientSession, name: str, entry: dict[str, Any]
) -> list[bytes]:
    stream = catalog.stream(name)
    span = (entry["since"], entry["until"], entry["window_ms"] or 1)
    lines: list[bytes] = []
    for window in cut_windows(stream, *span):
        params = {"stream": name}
        if window is not None:
            params |= {"begin_time": str(window.begin), "end_time": str(window.end)}
        async with session.get(TRUTH, params=params) as response:
            if response.status != 200:
                raise VerifyError(f"{name}: ground truth answered {response.status}")
            lines += (await response.read()).splitlines()
    return lines


def _harvested_lines(stream: str, units: list[dict[str, Any]]) -> Iterator[bytes]:
    for unit in units:
        if unit["status"] != "ok":
            continue
        location = unit["location"]
        if not location.endswith((".ndjson", ".ndjson.gz")):
            raise VerifyError(
                f"{stream}: verify reads NDJSON files, and this run wrote to "
                f'{location!r}; add "ndjson" to [sink] kind'
            )
        opener = gzip.open if location.endswith(".gz") else open
        with opener(location, "rb") as handle:
            yield from handle


def _canonical(lines: Iterable[bytes]) -> Iterator[bytes]:
    decoder = msgspec.json.Decoder()
    for line in lines:
        line = line.strip()
        if line:
            yield msgspec.json.encode(decoder.decode(line), order="sorted")
