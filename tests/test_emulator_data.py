"""The emulator's data: deterministic, windowed by index arithmetic, and
exactly what the truth function promises."""

from __future__ import annotations

import time

import orjson
import pytest

from harvester.catalog import STREAMS
from harvester.emulator import EmulatorSettings
from harvester.emulator.data import site_series, truth
from harvester.emulator.data.series import Item, TimedSeries, Window

DAY = 86_400_000
YESTERDAY = int(time.time() * 1000) // DAY * DAY - DAY


def day_of(stream: str, settings: EmulatorSettings) -> list[bytes]:
    return list(truth(stream, YESTERDAY, YESTERDAY + DAY, settings))


@pytest.mark.parametrize("stream", [stream.name for stream in STREAMS])
def test_every_stream_has_records_of_valid_json(stream: str) -> None:
    records = day_of(stream, EmulatorSettings())
    assert records
    for record in records[:50]:
        assert isinstance(orjson.loads(record), dict)
        assert b"\n" not in record


def test_same_seed_same_bytes_other_seed_other_data() -> None:
    first = day_of("cloud_service_alarms", EmulatorSettings(seed=11))
    again = day_of("cloud_service_alarms", EmulatorSettings(seed=11))
    other = day_of("cloud_service_alarms", EmulatorSettings(seed=12))
    assert first == again
    assert len(other) == len(first)
    assert set(other).isdisjoint(first)


def test_hosts_of_details_are_the_partitions_of_metrics() -> None:
    settings = EmulatorSettings()
    details = [orjson.loads(record) for record in day_of("host_details", settings)]
    hosts = list(dict.fromkeys(record["HOST_ID"] for record in details))
    metrics = [orjson.loads(r) for r in truth("host_metrics", 0, 1, settings)]
    assert [record["host_id"] for record in metrics[::4]] == hosts
    series = site_series(settings.seed, settings.scale)["host_metrics"]
    assert series.filter.partitions("host_id") == hosts
    assert len(hosts) == 12
    assert len(details) == 12 * 24


def test_values_sent_as_strings_and_packed_arrays() -> None:
    record = orjson.loads(day_of("host_details", EmulatorSettings())[0])
    assert isinstance(record["TIMESTAMP"], str)
    assert isinstance(orjson.loads(record["MEMORY"]), list)
    assert isinstance(orjson.loads(record["DISK"]), list)
    assert {"HOST_ID", "SN", "CPU_ARCH"} <= record.keys()
    host_vms = orjson.loads(day_of("host_vms", EmulatorSettings())[0])
    assert isinstance(orjson.loads(host_vms["vm_list"]), list)


def test_overlapping_windows_slice_one_series() -> None:
    settings = EmulatorSettings()
    whole = day_of("vm_performance", settings)
    morning = list(truth("vm_performance", YESTERDAY, YESTERDAY + DAY // 2, settings))
    evening = list(
        truth("vm_performance", YESTERDAY + DAY // 2, YESTERDAY + DAY, settings)
    )
    assert morning + evening == whole


def brute_force(series: TimedSeries, window: Window) -> list[tuple[int, int]]:
    entries = []
    for slot in range(
        window.low // series.period_ms, window.high // series.period_ms + 1
    ):
        for stamp, item in series.entries(slot, series.filter.items):
            if window.low <= stamp <= window.high:
                entries.append((stamp, item.index))
    return entries


@pytest.mark.parametrize("jitter", [None, 99])
@pytest.mark.parametrize(
    ("low", "high"), [(0, 999), (1, 10_000), (1234, 5678), (999, 1000), (50, 40)]
)
def test_window_arithmetic_matches_enumeration(
    jitter: int | None, low: int, high: int
) -> None:
    items = [Item(n, {}) for n in range(3)]

    def render(stamp: int, item: Item) -> bytes:
        return f"{stamp}:{item.index}".encode()

    series = TimedSeries("t", 1000, items, render, jitter_salt=jitter)
    expected = brute_force(series, Window(low, high))
    selection = series.select({}, Window(low, high))
    assert selection.count == len(expected)
    rendered = [f"{stamp}:{index}".encode() for stamp, index in expected]
    assert selection.records(0, selection.count) == rendered
    for start in range(0, len(rendered), 4):
        assert selection.records(start, start + 4) == rendered[start : start + 4]


def test_large_scale_has_a_million_host_metrics_a_day() -> None:
    series = site_series(7, "large")["host_metrics"]
    window = Window(YESTERDAY, YESTERDAY + DAY - 1)
    per_host = series.select(
        {"host_id": series.filter.items[0].dims["host_id"]}, window
    )
    hosts = series.filter.partitions("host_id")
    assert per_host.count * len(hosts) >= 1_000_000
    assert series.select({}, window).count == per_host.count * len(hosts)
