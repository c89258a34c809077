"""The emulator's page cache: same bytes, bounded, and only for settled data."""

from __future__ import annotations

import time

from harvester.catalog import HOST_METRICS
from harvester.emulator import EmulatorSettings
from harvester.emulator.data import site_series
from harvester.emulator.records import PageCache, Records

DAY = 86_400_000


def records(now_ms: int) -> Records:
    settings = EmulatorSettings(clock=lambda: now_ms / 1000)
    series = site_series(settings.seed, settings.scale)
    return Records(settings, series, settings.fault_plan)


def query(begin: int, end: int, offset: int = 0) -> dict[str, int | str]:
    host = site_series(7, "demo")["host_details"].filter.partitions("host_id")[0]
    return {
        "host_id": host,
        "begin_time": begin,
        "end_time": end,
        "offset_value": offset,
        "page_size": 50,
    }


def test_cache_keeps_the_most_recent_bodies_within_its_budget() -> None:
    cache = PageCache(budget=10)
    cache.put("a", b"aaaa")
    cache.put("b", b"bbbb")
    assert cache.get("a") == b"aaaa"  # now the most recent
    cache.put("c", b"cccc")

    assert cache.get("b") is None
    assert cache.get("a") == b"aaaa"
    assert cache.get("c") == b"cccc"
    assert cache.bytes == 8
    cache.put("huge", b"x" * 11)
    assert cache.get("huge") is None


def test_a_settled_page_is_built_once_and_served_as_the_same_bytes() -> None:
    now = int(time.time() * 1000) // DAY * DAY
    served = records(now)
    first = served.body(HOST_METRICS, query(now - DAY, now, offset=50))
    again = served.body(HOST_METRICS, query(now - DAY, now, offset=50))

    assert again is first
    assert served.cache.hits == 1
    assert records(now).body(HOST_METRICS, query(now - DAY, now, 50)) == first
    other = served.body(HOST_METRICS, query(now - DAY, now, offset=100))
    assert other != first


def test_a_window_reaching_past_now_is_built_anew_each_time() -> None:
    now = int(time.time() * 1000) // DAY * DAY + 3_600_000
    served = records(now)
    served.body(HOST_METRICS, query(now - DAY, now + DAY))
    served.body(HOST_METRICS, query(now - DAY, now + DAY))

    assert served.cache.hits == 0
    assert served.cache.bytes == 0
