"""The data endpoints of 4.1: one page (or the whole list) per request.

Offset endpoints answer `{"total", "list"}` for one slice of the query's
records; the rest answer every record at once. `total` always counts the
whole query (window, fixed parameters and partition), never the page.
"""

from __future__ import annotations

from collections.abc import Mapping

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


def envelope(endpoint: str, total: int, records: list[bytes]) -> bytes:
    """A page body around records that are already JSON."""
    count = f'"{total}"' if endpoint in TOTAL_AS_TEXT else str(total)
    head = b"{" + _STATUS if endpoint in WITH_STATUS else b"{"
    return b"".join(
        (head, b'"total":', count.encode(), b',"list":[', b",".join(records), b"]}")
    )


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

    async def handle(self, request: web.Request, match: Match) -> web.Response:
        """Answer one request for a data endpoint."""
        endpoint = match.endpoint
        values = parse_query(endpoint, request.query)
        values.update(parse_path(endpoint, match.path_params))
        return json_response(200, self.body(endpoint, values))

    def body(self, endpoint: Endpoint, values: Values) -> bytes:
        """The response body for checked parameter values."""
        filters = {name: value for name, value in values.items() if type(value) is str}
        selection = self._series[endpoint.name].select(
            filters, self._window(endpoint, values)
        )
        if endpoint.paging is not Paging.OFFSET:
            everything = selection.records(0, selection.count)
            return envelope(endpoint.name, selection.count, everything)

        size = int(values.get("page_size", DEFAULT_PAGE_SIZE))
        offset = int(values.get("offset_value", 0))
        start = offset * size if self._by_pages else offset
        total = selection.count + self._shift(endpoint, values, offset)
        return envelope(endpoint.name, total, selection.records(start, start + size))

    def _window(self, endpoint: Endpoint, values: Values) -> Window | None:
        if not endpoint.windowed:
            return None
        now_ms = int(self._clock() * 1000)
        begin, end = int(values["begin_time"]), int(values["end_time"])
        return window_for(begin, end, self._window_end, now_ms)

    def _shift(self, endpoint: Endpoint, values: Values, offset: int) -> int:
        # The same query always shifts or never does, so a harvester that
        # retries a page meets the same total again.
        if not self._shifting or offset == 0:
            return 0
        query = sorted((k, str(v)) for k, v in values.items() if k != "offset_value")
        draw = unit(mix(self._shift_seed, salt(f"{endpoint.name}{query}")))
        return 1 if draw < SHIFT_RATE else 0
