"""Benchmarks against the built-in emulator, whose latency model is known.

The models sit well above loopback noise (TP50 100 ms, TP99.9 250 ms) so
that 10% is a fair bound even on a busy machine: the generator's own
delays are a few milliseconds at worst here.
"""

from __future__ import annotations

import pytest

from harvester import catalog, config
from harvester.bench.rates import RateSpec
from harvester.bench.runner import BenchOptions, bench, benched_streams
from harvester.errors import ConfigError

BUCKET = catalog.ELBV3.bucket


def bench_config(*streams: str) -> config.RunConfig:
    return config.from_mapping(
        {"site": {"base_url": ""}, "run": {"streams": list(streams)}}
    )


def options(rate: float, seconds: float, model: str) -> BenchOptions:
    return BenchOptions(
        rates=(RateSpec(rate, percent=False),),
        duration_s=seconds,
        page_size=10,
        emulator_latency=(f"{BUCKET}={model}",),
    )


async def test_percentiles_match_the_emulator_model() -> None:
    result = await bench(
        bench_config("elbv3"), options(500, 5, "tp50:100ms,tp999:250ms")
    )
    measure = result.steps[0].run.streams["elbv3"]
    latency = measure.figures()["latency_ms"]
    assert measure.scheduled == measure.ok == 2500
    assert latency["tp50"] == pytest.approx(100, rel=0.10)
    assert latency["tp99.9"] == pytest.approx(250, rel=0.10)


async def test_a_stall_shows_in_the_high_percentiles_and_max() -> None:
    # A run of 4 s holds at least one whole 1 s stall of every 3 s.
    model = "tp50:10ms,tp999:20ms,stall:1s@every3s"
    result = await bench(bench_config("elbv3"), options(200, 4, model))
    measure = result.steps[0].run.streams["elbv3"]
    latency = measure.figures()["latency_ms"]
    assert measure.ok == measure.scheduled == 800
    # Measured from the schedule, the request that met the stall's start
    # waited the whole second; most requests met no stall at all.
    assert latency["max"] >= 950
    assert latency["tp99.9"] >= 900
    assert latency["tp50"] < 50


async def test_a_rate_past_the_limit_is_refused_before_any_request() -> None:
    with pytest.raises(ConfigError, match="--over-limit"):
        await bench(bench_config("audit_logs"), options(5, 1, "tp50:1ms,tp999:2ms"))


def test_fan_out_parents_are_not_benched_unless_asked() -> None:
    names = [stream.name for stream in benched_streams(bench_config("host_metrics"))]
    assert names == ["host_metrics"]
