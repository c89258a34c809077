"""The data endpoints of 4.1: one page (or the whole list) per request.

Offset endpoints answer `{"total", "list"}` for one slice of the query's
records; the rest answer every record at once. `total` always counts the
whole query (window, fixed parameters and partition), never the page.

Bodies of settled queries (windows wholly in the past, or no window) are
kept in a page cache, so asking for a page again costs a dictionary look-up
instead of rendering its records anew: a benchmark that warms the cache
measures its client, not the emulator.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Hashable, Mapping

from aiohttp import web

from harvester.catalog import Endpoint, Paging
from harvester.emulator.data import Series, Window, window_for
from harvester.emulator.errors import json_response
from harvester.emulator.faults import SHIFT_RATE, FaultPlan
from harvester.emulator.hashing import mix, salt, unit
from harvester.emulator.params import (
    DEFAULT_PAGE_SIZE,
    Values,
    parse_path,
    parse_query,
)
from harvester.emulator.routing import Match
from harvester.emulator.settings import EmulatorSettings

# 4.1.5-4.1.7 samples send `total` as a string; the others as a number.
TOTAL_AS_TEXT = frozenset({"device_assets", "cloud_service_alarms", "hardware_alarms"})
# 4.1.2 and 4.1.3 document `code` and `msg` beside `total`.
WITH_STATUS = frozenset({"physical_capacity", "service_capacity"})
_STATUS = b'"code":"0","msg":"success",'
# Enough for a whole day of the large scale's host metrics (about 400 MB).
PAGE_CACHE_BYTES = 512 << 20


def envelope(endpoint: str, total: int, records: list[bytes]) -> bytes:
    """A page body around records that are already JSON."""
    count = f'"{total}"' if endpoint in TOTAL_AS_TEXT else str(total)
    head = b"{" + _STATUS if endpoint in WITH_STATUS else b"{"
    return b"".join(
        (head, b'"total":', count.encode(), b',"list":[', b",".join(records), b"]}")
    )


class PageCache:
    """Built page bodies by query, bounded in bytes, least recently used out."""

    __slots__ = ("_bodies", "budget", "bytes", "hits", "misses")

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self._bodies: OrderedDict[Hashable, bytes] = OrderedDict()

    def get(self, key: Hashable) -> bytes | None:
        """The body kept for `key`, or None."""
        body = self._bodies.get(key)
        if body is None:
            self.misses += 1
            return None
        self.hits += 1
        self._bodies.move_to_end(key)
        return body

    def put(self, key: Hashable, body: bytes) -> None:
        """Keep `body` for `key`, evicting the oldest bodies past the budget."""
        if len(body) > self.budget or key in self._bodies:
            return
        self._bodies[key] = body
        self.bytes += len(body)
        while self.bytes > self.budget:
            _, evicted = self._bodies.popitem(last=False)
            self.bytes -= len(evicted)


class Records:
    """Serves the offset-paged and unpaged data endpoints."""

    def __init__(
        self, settings: EmulatorSettings, series: Mapping[str, Series], plan: FaultPlan
    ) -> None:
        self._series = series
        self._by_pages = settings.offset_unit == "pages"
        self._window_end = settings.window_end
        self._clock = settings.clock
        self._shift_seed = mix(settings.seed, salt("shifting-total"))
        self._shifting = "shifting-total" in plan
        self._passes: Counter[int] = Counter()
        self.cache = PageCache(PAGE_CACHE_BYTES)

    async def handle(self, request: web.Request, match: Match) -> web.Response:
        """Answer one request for a data endpoint."""
        endpoint = match.endpoint
        values = parse_query(endpoint, request.query)
        values.update(parse_path(endpoint, match.path_params))
        return json_response(200, self.body(endpoint, values))

    def body(self, endpoint: Endpoint, values: Values) -> bytes:
        """The response body for checked parameter values."""
        window, settled = self._window(endpoint, values)
        # Values are parsed in the catalog's parameter order, so equal
        # queries give equal keys.
        key = (endpoint.name, tuple(values.items()), window)
        body = self.cache.get(key)
        if body is None:
            body = self._build(endpoint, values, window)
            # A window reaching past now gains records as time goes on, and
            # a shifted total is drawn per call: neither may be kept.
            if settled and not self._shifting:
                self.cache.put(key, body)
        return body

    def _build(
        self, endpoint: Endpoint, values: Values, window: Window | None
    ) -> bytes:
        filters = {name: value for name, value in values.items() if type(value) is str}
        selection = self._series[endpoint.name].select(filters, window)
        if endpoint.paging is not Paging.OFFSET:
            everything = selection.records(0, selection.count)
            return envelope(endpoint.name, selection.count, everything)

        size = int(values.get("page_size", DEFAULT_PAGE_SIZE))
        offset = int(values.get("offset_value", 0))
        start = offset * size if self._by_pages else offset
        total = selection.count + self._shift(endpoint, values, offset)
        return envelope(endpoint.name, total, selection.records(start, start + size))

    def _window(self, endpoint: Endpoint, values: Values) -> tuple[Window | None, bool]:
        # The window the query admits, and whether it lies wholly in the past.
        if not endpoint.windowed:
            return None, True
        now_ms = int(self._clock() * 1000)
        begin, end = int(values["begin_time"]), int(values["end_time"])
        asked = window_for(begin, end, self._window_end, end)
        return window_for(begin, end, self._window_end, now_ms), asked.high <= now_ms

    def _shift(self, endpoint: Endpoint, values: Values, offset: int) -> int:
        # As on a site whose data moves while one read pages through it and
        # has settled when the read starts over: the draw holds for one pass
        # over a query (from its first page on) and is drawn anew for the
        # next pass. (A total that never settles is a hostile-site test.)
        if not self._shifting:
            return 0
        rest = sorted((k, str(v)) for k, v in values.items() if k != "offset_value")
        query = salt(f"{endpoint.name}{rest}")
        if offset == 0:
            self._passes[query] += 1
            return 0
        draw = unit(mix(self._shift_seed, query, self._passes[query]))
        return 1 if draw < SHIFT_RATE else 0
