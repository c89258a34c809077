"""Verdicts against the catalog's SLA rows, from synthetic measurements."""

from __future__ import annotations

import pytest

from harvester import catalog
from harvester.bench.generator import BucketRun, StepRun
from harvester.bench.measure import StreamMeasure
from harvester.bench.rates import BucketLoad
from harvester.bench.verdict import FAIL, PASS, UNTESTED, judge, throughput


def step_of(stream: str, rate: float, latency_s: float, failures: int = 0) -> StepRun:
    entry = catalog.stream(stream)
    sla = entry.endpoint.sla
    load = BucketLoad(entry.bucket, sla.limit, sla.period, rate, (entry,))
    count = int(rate * 10)
    run = BucketRun(load, count, sent=count)
    measure = StreamMeasure(stream, entry.bucket, bin_s=0.1)
    for index in range(count):
        slot = index / rate
        measure.scheduled += 1
        outcome = "5xx" if index < failures else "ok"
        measure.answered(slot, slot + latency_s, outcome)
    return StepRun(10.0, 0.0, [run], {stream: measure})


def items(step: StepRun) -> dict[str, tuple[str, float | None]]:
    (verdict,) = judge(step)
    return {item.name: (item.status, item.measured) for item in verdict.items}


def test_a_site_inside_its_sla_passes_every_item() -> None:
    got = items(step_of("audit_logs", 1 / 1.01, 0.1))
    assert {name: status for name, (status, _) in got.items()} == {
        "throughput": PASS,
        "tp50": PASS,
        "tp99.9": PASS,
        "success rate": PASS,
    }
    assert got["tp50"][1] == pytest.approx(100, rel=0.01)


def test_slow_answers_and_failures_fail_their_items() -> None:
    got = items(step_of("audit_logs", 1 / 1.01, 0.35, failures=1))
    assert got["tp50"][0] == got["tp99.9"][0] == FAIL
    assert got["success rate"] == (FAIL, pytest.approx(8 / 9))


def test_throughput_below_the_documented_rate_is_untested() -> None:
    got = items(step_of("elbv3", 1000, 0.001))
    assert got["throughput"] == (UNTESTED, pytest.approx(1000, rel=0.01))
    assert got["tp50"][0] == PASS


def test_late_answers_lower_the_throughput() -> None:
    step = step_of("elbv3", 100, 2.0)
    run = step.buckets[0]
    assert throughput(run, step.streams.values()) == pytest.approx(1000 / 11.99)


def test_undocumented_streams_are_measured_without_a_verdict() -> None:
    (verdict,) = judge(step_of("sdr", 1, 0.01))
    assert verdict.items == () and not verdict.failed
    assert "no SLA" in verdict.note
