"""The planner: config and catalog in, units out.

A unit is stream x partition x window, the grain of paging, commits and
retries. Windows are half-open, `[begin, end)` in epoch milliseconds, and
tile the run's `[since, until)` with no gap and no overlap.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
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
    """The units of one run, and the rule that adds fan-out children.

    `spans` holds each stream's `[since, until)`: the same for every stream
    unless the run continues each stream from its own last checkpoint.
    """

    spans: Mapping[str, tuple[int, int]]
    streams: tuple[Stream, ...]
    window_ms: Mapping[str, int]
    settled_until: int = 2**62

    def settled(self, unit: Unit) -> bool:
        """Whether `unit`'s window has ended long enough ago to be final.

        Tier-1 data settles within a minute (4.1.8 and its siblings): a
        window ending later than `settled_until` may still gain records.
        """
        return unit.window is None or unit.window.end <= self.settled_until

    @property
    def since(self) -> int:
        return min(since for since, _ in self.spans.values())

    @property
    def until(self) -> int:
        return max(until for _, until in self.spans.values())

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

    def discovery(self, discovery_ms: int) -> Iterator[Unit]:
        """Extra parent units that only list partitions, for short spans.

        Hosts report their configuration hourly, so a parent window shorter
        than that may list none of them, and their children would be lost.
        A parent whose span is shorter than `discovery_ms` is also read
        over the `discovery_ms` before its end; those records name
        partitions and are not written.
        """
        parents = {s.parent for s in self.streams if s.parent}
        for stream in self.streams:
            if stream.name in parents and stream.endpoint.windowed:
                since, until = self.spans[stream.name]
                if until - since < discovery_ms:
                    yield Unit(stream, None, Window(until - discovery_ms, until))

    def windows(self, stream: Stream) -> list[Window | None]:
        """The windows of `stream` in this run (None: not windowed)."""
        since, until = self.spans[stream.name]
        return cut_windows(stream, since, until, self.window_ms[stream.name])


def build(
    config: RunConfig,
    now_ms: int,
    last_end: Callable[[str], int | None] = lambda stream: None,
) -> Plan:
    """The plan of a run of `config` started at `now_ms`.

    With `since = "auto"` each stream starts where `last_end` says its last
    completed window ended (or at `run.auto_start` if it has none). An
    `until` given relative to now (`now`, `-6h`) stops `run.settle` short
    of now, since tier-1 data settles within a minute; an absolute one is
    kept, so its windows stay the same from run to run, and windows ending
    after that margin are left unsettled (see `Plan.settled`).
    """
    streams = config.selected_streams()
    until = parse_instant_ms("run.until", config.until, now_ms)
    settled_until = now_ms - config.settle_ms
    if isinstance(config.until, str) and (
        config.until == "now" or config.until.startswith("-")
    ):
        until = min(until, settled_until)
    auto = config.since == "auto"
    start = parse_instant_ms(
        "run.auto_start" if auto else "run.since",
        config.auto_start if auto else config.since,
        now_ms,
    )
    spans = {}
    for stream in streams:
        since = (last_end(stream.name) or start) if auto else start
        spans[stream.name] = (min(since, until), until)
    window_ms = {}
    for stream in streams:
        override = config.stream_settings.get(stream.name)
        window_ms[stream.name] = (
            override.window_ms if override and override.window_ms else config.window_ms
        )
    return Plan(spans, streams, window_ms, settled_until)


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
