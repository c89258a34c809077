"""Deterministic site data and the ground truth of every stream.

`site_series` maps each catalog endpoint to the series that serves it;
`truth` lists a stream's records for a window exactly as the data routes
serve them, so a harvest can be checked byte for byte.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import lru_cache
from types import MappingProxyType

from harvester.catalog import Paging, Stream, stream
from harvester.emulator.data import capacity, events, hosts, inventory, telemetry
from harvester.emulator.data.fleet import fleet
from harvester.emulator.data.sdr import build as build_sdr
from harvester.emulator.data.sdr import day_window
from harvester.emulator.data.series import (
    SnapshotSeries,
    TimedSeries,
    Window,
    all_records,
)
from harvester.emulator.settings import EmulatorSettings

Series = TimedSeries | SnapshotSeries

__all__ = [
    "Series",
    "TimedSeries",
    "Window",
    "day_window",
    "site_series",
    "truth",
    "window_for",
]


@lru_cache(maxsize=8)
def site_series(seed: int, scale: str) -> Mapping[str, Series]:
    """Every endpoint's series for a seed and scale, built once."""
    site = fleet(seed, scale)
    series: dict[str, Series] = {}
    for module in (capacity, events, hosts, inventory, telemetry):
        series.update(module.build(site))
    series.update(build_sdr(site))
    return MappingProxyType(series)


def window_for(begin_ms: int, end_ms: int, window_end: str, now_ms: int) -> Window:
    """The timestamps a query window admits, never past now."""
    high = end_ms if window_end == "inclusive" else end_ms - 1
    return Window(begin_ms, min(high, now_ms))


def truth(
    stream_name: str, begin_ms: int, end_ms: int, settings: EmulatorSettings
) -> Iterator[bytes]:
    """A stream's ground-truth records for a window, all partitions.

    Each record is the exact JSON the data routes serve for it. Windowless
    streams ignore the window; `sdr` covers the UTC days [begin, end).

    Raises:
        KeyError: no stream has that name.
    """
    wanted = stream(stream_name)
    series = site_series(settings.seed, settings.scale)[wanted.endpoint.name]
    window = _stream_window(wanted, begin_ms, end_ms, settings)
    for filters in _partition_filters(wanted, series):
        yield from all_records(series.select(filters, window))


def _stream_window(
    wanted: Stream, begin_ms: int, end_ms: int, settings: EmulatorSettings
) -> Window | None:
    now_ms = int(settings.clock() * 1000)
    if wanted.endpoint.paging is Paging.JOB:
        days = day_window(begin_ms, end_ms)
        return Window(days.low, min(days.high, now_ms))
    if wanted.endpoint.windowed:
        return window_for(begin_ms, end_ms, settings.window_end, now_ms)
    return None


def _partition_filters(wanted: Stream, series: Series) -> Iterator[dict[str, str]]:
    # A partitioned stream is the concatenation of its partitions' units,
    # in the order the parent lists them.
    if wanted.partition_key is None:
        yield dict(wanted.fixed)
        return
    for partition in series.filter.partitions(wanted.partition_key):
        yield {**wanted.fixed, wanted.partition_key: partition}
