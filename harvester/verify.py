"""Checking a harvest against the emulator's ground truth.

For each stream of a run, the records the emulator holds for the run's
windows are compared with the records the run committed: as multisets of
canonical JSON, so a record re-encoded onto one line still matches. Each
unit file is also checked against the sha256 its manifest entry holds.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import orjson

from harvester import catalog, manifest
from harvester.errors import VerifyError
from harvester.plan import Window, cut_windows

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
    corrupt_units: int = 0

    @property
    def exact(self) -> bool:
        return (
            self.lost == self.duplicated == self.unexpected == self.corrupt_units == 0
        )


async def verify(out: Path, base_url: str) -> list[StreamCheck]:
    """Compare the run under `out` with the emulator at `base_url`.

    Raises:
        VerifyError: there is no readable manifest, the emulator cannot be
            asked, or the run used a sink whose output cannot be read back.
    """
    run = _manifest(out)
    truth_url = base_url.rstrip("/") + TRUTH
    checks = []
    try:
        async with aiohttp.ClientSession() as session:
            for name, entry in run["streams"].items():
                truth = await _truth(session, truth_url, name, entry, run)
                files = _UnitFiles(out, name, entry["units"])
                harvested = Counter(_canonical(files.lines()))
                check = compare(name, Counter(_canonical(truth)), harvested)
                checks.append(_with_corrupt(check, files.corrupt))
    except (aiohttp.ClientError, ValueError) as error:
        raise VerifyError(
            f"cannot ask {base_url!r} for ground truth: {error}"
        ) from None
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


def _manifest(out: Path) -> dict[str, Any]:
    try:
        return manifest.load(out)
    except FileNotFoundError:
        raise VerifyError(f"no {manifest.MANIFEST} in {str(out)!r}") from None
    except orjson.JSONDecodeError:
        raise VerifyError(
            f"{str(out / manifest.MANIFEST)!r} is not valid JSON"
        ) from None


async def _truth(
    session: aiohttp.ClientSession,
    url: str,
    name: str,
    entry: dict[str, Any],
    run: dict[str, Any],
) -> list[bytes]:
    stream = catalog.stream(name)
    span = (entry["since"], entry["until"], entry["window_ms"] or 1)
    lines: list[bytes] = []
    for window in cut_windows(stream, *span):
        params = {"stream": name, **_bounds(window, run.get("window_end"))}
        async with session.get(url, params=params) as response:
            if response.status != 200:
                raise VerifyError(f"{name}: ground truth answered {response.status}")
            lines += (await response.read()).splitlines()
    return lines


def _bounds(window: Window | None, window_end: str | None) -> dict[str, str]:
    # Asked the way the run asked the site, so both read the same window.
    if window is None:
        return {}
    end = window.end - 1 if window_end == "inclusive" else window.end
    return {"begin_time": str(window.begin), "end_time": str(end)}


class _UnitFiles:
    """The lines of a stream's committed unit files, checked as they are read."""

    def __init__(self, out: Path, stream: str, units: list[dict[str, Any]]) -> None:
        self._out = out
        self._stream = stream
        self._units = [unit for unit in units if unit["status"] == "ok"]
        self.corrupt = 0

    def lines(self) -> Iterator[bytes]:
        for unit in self._units:
            data = self._read(unit["location"])
            if hashlib.sha256(data).hexdigest() != unit["sha256"]:
                self.corrupt += 1
            yield from data.splitlines()

    def _read(self, location: str) -> bytes:
        if not location.endswith((".ndjson", ".ndjson.gz")):
            raise VerifyError(
                f"{self._stream}: verify reads NDJSON files, and this run wrote "
                f'to {location!r}; add "ndjson" to [sink] kind'
            )
        path = self._out / location
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise VerifyError(f"{self._stream}: {str(path)!r} is missing") from None
        return gzip.decompress(data) if location.endswith(".gz") else data


def _with_corrupt(check: StreamCheck, corrupt: int) -> StreamCheck:
    return dataclasses.replace(check, corrupt_units=corrupt)


def _canonical(lines: Iterable[bytes]) -> Iterator[bytes]:
    decoder = msgspec.json.Decoder()
    for line in lines:
        line = line.strip()
        if line:
            yield msgspec.json.encode(decoder.decode(line), order="sorted")
