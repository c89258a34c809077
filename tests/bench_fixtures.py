"""Synthetic benchmark results for the report tests."""

from __future__ import annotations

from harvester import catalog
from harvester.bench.generator import BucketRun, StepRun
from harvester.bench.health import assess
from harvester.bench.measure import StreamMeasure
from harvester.bench.rates import BucketLoad, RateSpec
from harvester.bench.runner import BenchOptions, BenchResult, StepResult
from harvester.bench.verdict import judge


def measured(
    stream: str, rate: float, latency_s: float
) -> tuple[BucketRun, StreamMeasure]:
    """One stream alone in its bucket, answered in `latency_s` for 10 s."""
    entry = catalog.stream(stream)
    sla = entry.endpoint.sla
    load = BucketLoad(entry.bucket, sla.limit, sla.period, rate, (entry,))
    count = int(rate * 10)
    run = BucketRun(load, count, sent=count)
    measure = StreamMeasure(stream, entry.bucket, bin_s=0.1)
    for index in range(count):
        slot = index / rate
        measure.scheduled += 1
        measure.left(slot, slot)
        measure.answered(slot, slot + latency_s, "ok")
    return run, measure


def result() -> BenchResult:
    """A run of one step: a passing tier-2 stream, a slow tier-1, and SDR."""
    runs = [
        measured("audit_logs", 1 / 1.01, 0.1),
        measured("elbv3", 200, 0.009),
        measured("sdr", 1 / 1.01, 0.01),
    ]
    step = StepRun(
        10.0,
        0.0,
        [run for run, _ in runs],
        {measure.stream: measure for _, measure in runs},
        connections=256,
    )
    options = BenchOptions()
    done = BenchResult("http://127.0.0.1:1", True, options, ("audit_logs",), {})
    done.steps.append(
        StepResult(
            RateSpec(100, True),
            [r.load for r, _ in runs],
            step,
            assess(step),
            judge(step),
        )
    )
    return done
