"""Series of records as index arithmetic over time grids and item sets.

A timed series has a fixed set of items (a host x monitor item, an alarm
source, a device x metric) and a grid of slots aligned to the epoch. Each
slot holds one record per item, stamped at the slot start or, for event
streams, at a hashed offset inside the slot. Records are ordered by time,
then item, so the records of any window can be counted, and any slice of
them built, without generating the rest: a page costs only its own records.

A snapshot series is the current state of an inventory: the same records
whatever the time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from harvester.emulator.hashing import mix

Matcher = Callable[[str, str], bool]
TimedRender = Callable[[int, "Item"], bytes]
SnapshotRender = Callable[["Item"], bytes]

_SELECTION_CACHE = 4096
CHUNK = 5000


@dataclass(frozen=True, slots=True, eq=False)
class Item:
    """One member of a series, with the dimensions a query may filter on.

    `subject` is whatever the item describes (a host, a device, a resource);
    render functions read it.
    """

    index: int
    dims: Mapping[str, str]
    subject: Any = None


def exact(query: str, value: str) -> bool:
    """The default filter: the query value equals the item's."""
    return query == value


def caseless(query: str, value: str) -> bool:
    """A filter that ignores case (service types are spelled both ways)."""
    return query.casefold() == value.casefold()


class Selection(Protocol):
    """The records of one query: counted up front, built a slice at a time."""

    count: int

    def records(self, start: int, stop: int) -> list[bytes]:
        """The records at positions [start, stop), clipped to the count."""
        ...


@dataclass(frozen=True, slots=True)
class Window:
    """An inclusive range of record timestamps in epoch milliseconds."""

    low: int
    high: int


class ItemFilter:
    """Chooses a series' items by query filters, remembering recent choices."""

    __slots__ = ("_chosen", "items", "matchers")

    def __init__(
        self, items: Sequence[Item], matchers: Mapping[str, Matcher] | None = None
    ) -> None:
        self.items = tuple(items)
        self.matchers: Mapping[str, Matcher] = matchers or {}
        self._chosen: dict[tuple[tuple[str, str], ...], tuple[Item, ...]] = {}

    def choose(self, filters: Mapping[str, str]) -> tuple[Item, ...]:
        """The items matching every filter on a dimension they have."""
        key = tuple(sorted(filters.items()))
        chosen = self._chosen.get(key)
        if chosen is None:
            # Filter values come from clients, so the memory stays bounded.
            if len(self._chosen) >= _SELECTION_CACHE:
                self._chosen.clear()
            chosen = tuple(item for item in self.items if self._matches(item, key))
            self._chosen[key] = chosen
        return chosen

    def _matches(self, item: Item, filters: tuple[tuple[str, str], ...]) -> bool:
        for name, query in filters:
            value = item.dims.get(name)
            if value is not None and not self.matchers.get(name, exact)(query, value):
                return False
        return True

    def partitions(self, key: str) -> list[str]:
        """The distinct values of dimension `key`, in item order."""
        return list(dict.fromkeys(item.dims[key] for item in self.items))


class SnapshotSeries:
    """The current state of an inventory: time plays no part."""

    def __init__(
        self,
        name: str,
        items: Sequence[Item],
        render: SnapshotRender,
        matchers: Mapping[str, Matcher] | None = None,
    ) -> None:
        self.name = name
        self.filter = ItemFilter(items, matchers)
        self.render = render

    def select(
        self, filters: Mapping[str, str], window: Window | None = None
    ) -> Selection:
        """The records matching `filters`; `window` plays no part."""
        return _SnapshotSelection(self, self.filter.choose(filters))


class _SnapshotSelection:
    __slots__ = ("_items", "_series", "count")

    def __init__(self, series: SnapshotSeries, items: tuple[Item, ...]) -> None:
        self._series = series
        self._items = items
        self.count = len(items)

    def records(self, start: int, stop: int) -> list[bytes]:
        render = self._series.render
        return [render(item) for item in self._items[max(start, 0) : stop]]


class TimedSeries:
    """Records on an epoch-aligned grid of `period_ms` slots.

    With `jitter_salt` set, each record sits at a hashed offset inside its
    slot (events); without it, every record sits at the slot start
    (samples). `render(timestamp_ms, item)` builds one record's bytes.
    """

    def __init__(
        self,
        name: str,
        period_ms: int,
        items: Sequence[Item],
        render: TimedRender,
        *,
        jitter_salt: int | None = None,
        matchers: Mapping[str, Matcher] | None = None,
    ) -> None:
        self.name = name
        self.period_ms = period_ms
        self.filter = ItemFilter(items, matchers)
        self.render = render
        self.jitter_salt = jitter_salt

    def select(
        self, filters: Mapping[str, str], window: Window | None = None
    ) -> Selection:
        """The records matching `filters` stamped inside `window`."""
        if window is None:
            raise ValueError(f"series {self.name} needs a time window")
        return _TimedSelection(self, self.filter.choose(filters), window)

    def entries(self, slot: int, items: tuple[Item, ...]) -> list[tuple[int, Item]]:
        """A slot's (timestamp, item) pairs in record order."""
        start = slot * self.period_ms
        if self.jitter_salt is None:
            return [(start, item) for item in items]

        salt, period = self.jitter_salt, self.period_ms
        stamped = [
            (start + mix(salt, slot, item.index) % period, item) for item in items
        ]
        stamped.sort(key=lambda entry: (entry[0], entry[1].index))
        return stamped


class _TimedSelection:
    """A window's records: partial first and last slots, full slots between."""

    __slots__ = ("_first", "_head", "_items", "_last", "_series", "_tail", "count")

    def __init__(
        self, series: TimedSeries, items: tuple[Item, ...], window: Window
    ) -> None:
        self._series = series
        self._items = items
        self._head: list[tuple[int, Item]] = []
        self._tail: list[tuple[int, Item]] = []
        self._first = self._last = 0
        self.count = 0
        if window.high < window.low or not items:
            return

        period = series.period_ms
        self._first = window.low // period
        self._last = window.high // period
        self._head = self._inside(self._first, window)
        if self._last > self._first:
            self._tail = self._inside(self._last, window)
        middle = max(self._last - self._first - 1, 0)
        self.count = len(self._head) + middle * len(items) + len(self._tail)

    def _inside(self, slot: int, window: Window) -> list[tuple[int, Item]]:
        entries = self._series.entries(slot, self._items)
        return [entry for entry in entries if window.low <= entry[0] <= window.high]

    def _slot_of(self, position: int) -> tuple[int, int]:
        # Map a record position to (slot, position inside that slot).
        if position < len(self._head):
            return self._first, position
        position -= len(self._head)
        width = len(self._items)
        middle = (self._last - self._first - 1) * width
        if position < middle:
            return self._first + 1 + position // width, position % width
        return self._last, position - middle

    def _entries(self, slot: int) -> list[tuple[int, Item]]:
        if slot == self._first:
            return self._head
        if slot == self._last:
            return self._tail
        return self._series.entries(slot, self._items)

    def records(self, start: int, stop: int) -> list[bytes]:
        render = self._series.render
        position, stop = max(start, 0), min(stop, self.count)
        out: list[bytes] = []
        while position < stop:
            slot, offset = self._slot_of(position)
            taken = self._entries(slot)[offset : offset + stop - position]
            out.extend(render(stamp, item) for stamp, item in taken)
            position += len(taken)
        return out


def all_records(selection: Selection) -> Iterator[bytes]:
    """Every record of a selection, built a chunk at a time."""
    for start in range(0, selection.count, CHUNK):
        yield from selection.records(start, start + CHUNK)
