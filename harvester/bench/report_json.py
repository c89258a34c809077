"""The JSON report: every figure of a benchmark run, in one document.

The text table and the HTML report are both drawn from this document, so
what they show is exactly what the JSON holds.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson

from harvester import catalog
from harvester.bench.generator import BucketRun, StepRun
from harvester.bench.measure import Series, StreamMeasure
from harvester.bench.runner import BenchResult, StepResult
from harvester.bench.verdict import Verdict, throughput


def document(result: BenchResult) -> dict[str, Any]:
    """The whole run as a JSON-ready mapping."""
    options = result.options
    return {
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "site": result.base_url,
        "embedded": result.embedded,
        "emulator_latency": list(result.emulator_latency),
        "options": {
            "duration_s": options.duration_s,
            "max_rate": options.max_rate,
            "max_requests": options.max_requests,
            "over_limit": options.over_limit,
            "timeout_s": options.timeout_s,
            "connections": options.connections,
            "page_sizes": result.page_sizes,
        },
        "failed": result.failed,
        "steps": [_step(step) for step in result.steps],
    }


def write(doc: dict[str, Any], path: Path) -> None:
    """Write `doc` to `path`, creating its directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))


def _step(step: StepResult) -> dict[str, Any]:
    run = step.run
    health = step.health
    verdicts = {verdict.stream: verdict for verdict in step.verdicts}
    return {
        "rate": str(step.rate),
        "duration_s": run.duration_s,
        "wall_s": run.wall_s,
        "started_at": run.started_at,
        "generator": {
            "asked_rate": health.asked_rate,
            "achieved_rate": health.achieved_rate,
            "shortfall": health.shortfall,
            "lag_ms": health.lag_ms,
            "cpu_share": health.cpu_share,
            "max_in_flight": health.max_in_flight,
            "connections": health.connections,
            "held_s": health.held_s,
            "bottleneck": health.bottleneck,
            "warnings": list(health.warnings),
        },
        "buckets": [_bucket(bucket, run) for bucket in run.buckets],
        "streams": [
            _stream(measure, verdicts[name]) for name, measure in run.streams.items()
        ],
    }


def _bucket(bucket: BucketRun, run: StepRun) -> dict[str, Any]:
    load = bucket.load
    sla = load.streams[0].endpoint.sla
    members = [run.streams[stream.name] for stream in load.streams]
    bin_s = members[0].bin_s
    ok_per_bin = _sum_columns([m.by_completion.ok for m in members])
    return {
        "bucket": load.bucket,
        "streams": [stream.name for stream in load.streams],
        "limit": load.limit,
        "period_s": load.period,
        "limit_rate": load.limit_rate,
        "documented_rate": sla.limit / sla.period,
        "offered_rate": load.rate,
        "scheduled": bucket.count,
        "sent": bucket.sent,
        "send_rate": bucket.send_rate,
        "throughput": throughput(bucket, members),
        "bin_s": bin_s,
        "ok_per_s": [count / bin_s for count in ok_per_bin],
    }


def _stream(measure: StreamMeasure, verdict: Verdict) -> dict[str, Any]:
    sla = catalog.stream(measure.stream).endpoint.sla
    figures = measure.figures()
    figures["sla"] = {
        "documented": sla.documented,
        "limit": sla.limit,
        "period_s": sla.period,
        "tp50_ms": sla.tp50_ms,
        "tp999_ms": sla.tp999_ms,
        "success_rate": sla.success_rate,
    }
    figures["series"] = _series(measure.by_schedule)
    figures["verdict"] = {
        "failed": verdict.failed,
        "note": verdict.note,
        "items": [
            {
                "item": item.name,
                "measured": item.measured,
                "documented": item.documented,
                "unit": item.unit,
                "status": item.status,
                "note": item.note,
            }
            for item in verdict.items
        ],
    }
    return figures


def _series(series: Series) -> dict[str, Any]:
    means = [
        total / count * 1000 if count else None
        for total, count in zip(series.latency_sum, series.ok, strict=True)
    ]
    return {
        "bin_s": series.bin_s,
        "by": "scheduled send time",
        "ok": series.ok,
        "failed": series.failed,
        "latency_mean_ms": means,
        "latency_max_ms": [
            value * 1000 if count else None
            for value, count in zip(series.latency_max, series.ok, strict=True)
        ],
    }


def _sum_columns(columns: list[list[int]]) -> list[int]:
    width = max((len(column) for column in columns), default=0)
    return [
        sum(column[i] for column in columns if i < len(column)) for i in range(width)
    ]
