"""The planner: config and catalog in, units out.

A unit is stream x partition x window, the grain of paging, commits and
retries. Windows are half-open, `[begin, end)` in epoch milliseconds, and
tile the run's `[since, until)` with no gap and no overlap.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from harvester.catalog import Paging, Stream
from harvester.config import RunConfig, parse_instant_ms

DAY_MS = 86_400_000
UNSAFE = re.compile(r"[^-_.0-9A-Za-z]")


@dataclass(frozen=True, slots=True, order=True)
class Window:
    """A time slice `[begin, end)` in epoch milliseconds."""

    begin: int
    end: int

    @property
    def label(self) -> str:
        """A stable, file-name-safe name such as `20261203T000000.000Z`."""
        return f"{_stamp(self.begin)}_{_stamp(self.end)}"


@dataclass(frozen=True, slots=True)
class Unit:
    """One stream x partition x window, paged to completion as a whole."""

    stream: Stream
    partition: str | None = None
    window: Window | None = None

    @property
    def key(self) -> str:
        """The unit's name in logs, manifests and checkpoints."""
        window = self.window.label if self.window else "snapshot"
        partition = self.partition if self.partition is not None else "all"
        return f"{self.stream.name}/{window}/{partition}"

    @property
    def file_stem(self) -> str:
        """The partition's file name without suffix, safe on any filesystem."""
        if self.partition is None:
            return "all"
        return f"{self.stream.partition_key}={UNSAFE.sub('_', self.partition)}"


@dataclass(frozen=True, slots=True)
class Plan:
    """The units of one run, and the rule that adds fan-out children."""

    since: int
    until: int
    streams: tuple[Stream, ...]
    window_ms: dict[str, int]

    def root_units(self) -> Iterator[Unit]:
        """Units known before any request: every stream without a parent."""
        for stream in self.streams:
            if stream.parent is None:
                for window in self.windows(stream):
                    yield Unit(stream, None, window)

    def children(self, parent: Stream, partition: str) -> Iterator[Unit]:
        """Units of the streams fed by one partition value of `parent`."""
        for stream in self.streams:
            if stream.parent == parent.name:
                for window in self.windows(stream):
                    yield Unit(stream, partition, window)

    def windows(self, stream: Stream) -> list[Window | None]:
        """The windows of `stream` in this run (None: not windowed)."""
        return cut_windows(stream, self.since, self.until, self.window_ms[stream.name])


def build(config: RunConfig, now_ms: int) -> Plan:
    """The plan of a run of `config` started at `now_ms`."""
    since = parse_instant_ms("run.since", config.since, now_ms)
    until = parse_instant_ms("run.until", config.until, now_ms)
    streams = config.selected_streams()
    window_ms = {}
    for stream in streams:
        override = config.stream_settings.get(stream.name)
        window_ms[stream.name] = (
            override.window_ms if override and override.window_ms else config.window_ms
        )
    return Plan(since, until, streams, window_ms)


def cut_windows(
    stream: Stream, since: int, until: int, length: int
) -> list[Window | None]:
    """Cut `[since, until)` into the windows `stream` is harvested in.

    SDR jobs count whole UTC days only (DESIGN.md, "SDR jobs"), so the
    `sdr` stream gets one window per day whose end falls in
    `(since, until]`: back-to-back runs then take every day exactly once,
    and only once it is complete.
    """
    if not stream.endpoint.windowed:
        return [None]
    if stream.endpoint.paging is Paging.JOB:
        first = -(-since // DAY_MS) * DAY_MS
        return [
            Window(end - DAY_MS, end)
            for end in range(first, until + 1, DAY_MS)
            if end > since
        ]
    return [
        Window(begin, min(begin + length, until))
        for begin in range(since, until, length)
    ]


def parents(streams: tuple[Stream, ...]) -> set[str]:
    """Names of the streams whose records list other streams' partitions."""
    return {s.parent for s in streams if s.parent} & {s.name for s in streams}


def _stamp(epoch_ms: int) -> str:
    moment = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    return moment.strftime("%Y%m%dT%H%M%S.") + f"{epoch_ms % 1000:03d}Z"
