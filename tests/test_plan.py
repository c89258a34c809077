from __future__ import annotations

import itertools

from harvester import catalog, config
from harvester.plan import DAY_MS, Window, build, cut_windows

HOUR = 3_600_000
START = 20_000 * DAY_MS


def test_windows_tile_the_span_without_gap_or_overlap() -> None:
    stream = catalog.stream("host_metrics")
    since, until = 1_000, 1_000 + 5 * HOUR + 17
    windows = cut_windows(stream, since, until, 2 * HOUR)
    assert windows[0] is not None and windows[0].begin == since
    assert windows[-1] is not None and windows[-1].end == until
    for left, right in itertools.pairwise(windows):
        assert left is not None and right is not None
        assert left.end == right.begin


def test_unwindowed_streams_get_one_unit() -> None:
    assert cut_windows(catalog.stream("device_assets"), 0, DAY_MS, HOUR) == [None]


def test_sdr_takes_each_whole_day_once_in_back_to_back_runs() -> None:
    sdr = catalog.stream("sdr")
    start = 20_000 * DAY_MS + 5 * HOUR
    first = cut_windows(sdr, start, start + DAY_MS, HOUR)
    second = cut_windows(sdr, start + DAY_MS, start + 2 * DAY_MS, HOUR)
    assert first == [Window(20_000 * DAY_MS, 20_001 * DAY_MS)]
    assert second == [Window(20_001 * DAY_MS, 20_002 * DAY_MS)]


def test_sdr_span_shorter_than_a_day_may_hold_no_complete_day() -> None:
    sdr = catalog.stream("sdr")
    start = 20_000 * DAY_MS + HOUR
    assert cut_windows(sdr, start, start + HOUR, HOUR) == []


def test_fan_out_children_follow_their_parent() -> None:
    settings = config.from_mapping(
        {"run": {"streams": ["host_*"], "since": START, "until": START + DAY_MS}}
    )
    plan = build(settings, START + DAY_MS)
    roots = {unit.stream.name for unit in plan.root_units()}
    assert roots == {"host_details"}
    parent = catalog.stream("host_details")
    children = list(plan.children(parent, "host-1"))
    assert {c.stream.name for c in children} == {"host_metrics", "host_vms"}
    assert all(c.partition == "host-1" for c in children)
    assert children[0].file_stem == "host_id=host-1"


def test_unit_file_stem_is_filesystem_safe() -> None:
    settings = config.from_mapping({"run": {"since": START, "until": START + DAY_MS}})
    plan = build(settings, START + DAY_MS)
    child = next(plan.children(catalog.stream("host_details"), "../etc/x y"))
    assert "/" not in child.file_stem and " " not in child.file_stem
