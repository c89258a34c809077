"""The verdict: each stream's figures against its endpoint's documented SLA.

Per stream four items: throughput (of the whole bucket, since the budget
belongs to the endpoint path and the bucket's streams share it), TP50,
TP99.9 and success rate, each pass or fail with the measured value beside
the documented one. Throughput is only judged when the offered load came
within 97% of the documented rate (the share of a budget a harvest is
expected to use); below that it is reported as untested. Streams whose SLA
the reference does not document are measured but get no verdict.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from harvester import catalog
from harvester.bench.generator import BucketRun, StepRun
from harvester.bench.measure import StreamMeasure

THROUGHPUT_SHARE = 0.97
PASS, FAIL, UNTESTED = "pass", "fail", "untested"


@dataclass(frozen=True, slots=True)
class Item:
    """One SLA item: measured against documented, and the outcome."""

    name: str
    measured: float | None
    documented: float | None
    unit: str
    status: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class Verdict:
    """The verdict on one stream in one step; no items when undocumented."""

    stream: str
    bucket: str
    items: tuple[Item, ...]
    note: str = ""

    @property
    def failed(self) -> bool:
        """Whether any item failed."""
        return any(item.status == FAIL for item in self.items)


def throughput(run: BucketRun, measures: Iterable[StreamMeasure]) -> float:
    """2xx answers per second for one bucket, over the schedule or longer.

    A site that answers late (a stall at the end of the step) stretches
    the time the answers took, and so lowers its throughput.
    """
    members = [m for m in measures if m.bucket == run.load.bucket]
    ok = sum(m.ok for m in members)
    last = max((m.last_ok_s for m in members), default=0.0)
    span = max(run.span_s, last)
    return ok / span if span > 0 else 0.0


def judge(step: StepRun) -> list[Verdict]:
    """The verdict on every stream of `step`."""
    verdicts = []
    for run in step.buckets:
        achieved = throughput(run, step.streams.values())
        for stream in run.load.streams:
            measure = step.streams[stream.name]
            verdicts.append(_judge_stream(run, measure, achieved))
    return verdicts


def _judge_stream(run: BucketRun, measure: StreamMeasure, achieved: float) -> Verdict:
    sla = catalog.stream(measure.stream).endpoint.sla
    if not sla.documented:
        return Verdict(
            measure.stream,
            run.load.bucket,
            (),
            "the reference documents no SLA for this endpoint: measured only",
        )
    latency = measure.figures()["latency_ms"]
    items = (
        _throughput_item(run, achieved, sla.limit / sla.period),
        _ceiling("tp50", latency["tp50"], sla.tp50_ms, "ms"),
        _ceiling("tp99.9", latency["tp99.9"], sla.tp999_ms, "ms"),
        _floor("success rate", measure.success_rate, sla.success_rate),
    )
    return Verdict(measure.stream, run.load.bucket, items)


def _throughput_item(run: BucketRun, achieved: float, documented: float) -> Item:
    offered = run.load.rate
    if offered < documented * THROUGHPUT_SHARE:
        note = f"offered {offered:.4g}/s, below {THROUGHPUT_SHARE:.0%} of documented"
        return Item("throughput", achieved, documented, "/s", UNTESTED, note)
    status = PASS if achieved >= documented * THROUGHPUT_SHARE else FAIL
    note = f"bucket total; pass at {THROUGHPUT_SHARE:.0%} of documented"
    return Item("throughput", achieved, documented, "/s", status, note)


def _ceiling(
    name: str, measured: float | None, documented: float | None, unit: str
) -> Item:
    if measured is None:
        return Item(name, None, documented, unit, FAIL, "no successful answer")
    ok = documented is None or measured <= documented
    return Item(name, measured, documented, unit, PASS if ok else FAIL)


def _floor(name: str, measured: float | None, documented: float | None) -> Item:
    if measured is None:
        return Item(name, None, documented, "%", FAIL, "nothing was sent")
    ok = documented is None or measured >= documented
    return Item(name, measured, documented, "%", PASS if ok else FAIL)
