"""The generator's health: when it, not the site, limited a step."""

from __future__ import annotations

import pytest

from harvester import catalog
from harvester.bench.generator import BucketRun, StepRun
from harvester.bench.health import assess
from harvester.bench.measure import record
from harvester.bench.rates import BucketLoad


def step(sent: int, last_left_s: float, lag_s: float, in_flight: int) -> StepRun:
    stream = catalog.stream("elbv3")
    load = BucketLoad(stream.bucket, 4000, 1.0, 100.0, (stream,))
    run = BucketRun(load, 1000, sent=sent, last_left_s=last_left_s)
    result = StepRun(10.0, 0.0, [run], {}, cpu_share=0.3, connections=256)
    result.max_in_flight = in_flight
    for _ in range(1000):
        record(result.lag, lag_s)
    return result


def test_a_generator_on_schedule_raises_no_warning() -> None:
    health = assess(step(1000, 9.99, 0.0002, 10))
    assert health.warnings == () and not health.bottleneck
    assert health.shortfall == 0.0


def test_falling_behind_is_reported_with_its_size() -> None:
    health = assess(step(1000, 12.49, 0.5, 256))
    assert health.shortfall == pytest.approx(0.2, rel=0.01)
    assert health.bottleneck
    text = " ".join(health.warnings)
    assert "20.0% short" in text
    assert "left late" in text
    assert "all 256 connections" in text
