"""Per-stream measurement: outcome classes, histograms, series."""

from __future__ import annotations

import pytest

from harvester.bench.measure import StreamMeasure, classify, histogram, record


@pytest.mark.parametrize(
    ("status", "error", "outcome"),
    [
        (200, None, "ok"),
        (201, None, "ok"),
        (429, None, "429"),
        (404, None, "4xx"),
        (503, None, "5xx"),
        (302, None, "other"),
        (None, "timeout", "timeout"),
        (None, "connection", "connection"),
    ],
)
def test_outcomes_are_classified(
    status: int | None, error: str | None, outcome: str
) -> None:
    assert classify(status, error) == outcome


def test_latency_counts_from_the_slot_and_only_for_2xx() -> None:
    measure = StreamMeasure("elbv3", "/b", bin_s=0.1)
    for index in range(1000):
        slot = index * 0.01
        measure.scheduled += 1
        measure.left(slot, slot + 0.001)
        measure.answered(slot, slot + 0.010 + (0.5 if index == 999 else 0), "ok")
    measure.scheduled += 2
    measure.answered(10.0, 10.001, "429")
    measure.answered(10.0, 20.0, "timeout")
    figures = measure.figures()
    assert figures["ok"] == 1000 and figures["completed"] == 1001
    assert figures["errors"]["429"] == figures["errors"]["timeout"] == 1
    assert figures["latency_ms"]["tp50"] == pytest.approx(10, rel=0.01)
    assert figures["latency_ms"]["max"] == pytest.approx(510, rel=0.01)
    assert figures["lag_ms"]["tp99"] == pytest.approx(1, rel=0.01)
    assert measure.success_rate == pytest.approx(1000 / 1002)
    assert sum(measure.by_schedule.ok) == 1000
    assert measure.by_schedule.failed[100] == 2


def test_an_empty_measure_has_no_percentiles() -> None:
    figures = StreamMeasure("elbv3", "/b", bin_s=0.1).figures()
    assert figures["latency_ms"]["tp99.9"] is None
    assert figures["success_rate"] is None


def test_values_outside_the_range_are_clamped() -> None:
    hist = histogram()
    record(hist, -1.0)
    record(hist, 10_000.0)
    assert hist.get_total_count() == 2
