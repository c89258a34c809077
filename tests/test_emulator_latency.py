"""Latency models of the emulator: specs, the fitted distribution, stalls,
tails, the draw sequence, and the gateway holding answers back."""

from __future__ import annotations

import argparse
import math
import time

import aiohttp
import pytest

from harvester import catalog
from harvester.emulator import EmulatorSettings, cli, running_emulator
from harvester.emulator.latency import (
    ENV,
    Latency,
    LatencyModel,
    Stall,
    Tail,
    from_environment,
    parse_latency,
    seconds,
)

ELBV3 = catalog.ELBV3.bucket
BUCKETS = {endpoint.bucket for endpoint in catalog.ENDPOINTS}


def test_a_bucket_spec_gives_that_bucket_its_model() -> None:
    spec = f"{ELBV3}=tp50:2ms,tp999:5ms,tail:1%@50ms,stall=1s@every10s"
    assert parse_latency([spec]) == {
        ELBV3: LatencyModel(0.002, 0.005, Tail(0.01, 0.05), Stall(1.0, 10.0))
    }


def test_a_star_covers_every_bucket_and_later_specs_override() -> None:
    models = parse_latency(["*=tp50:20ms,tp999:50ms", f"{ELBV3}=tp50:1ms,tp999:1ms"])
    assert set(models) == BUCKETS
    assert models[ELBV3] == LatencyModel(0.001, 0.001)
    assert models[catalog.AUDIT_LOGS.bucket] == LatencyModel(0.02, 0.05)


def test_within_sla_sits_inside_every_documented_sla() -> None:
    models = parse_latency(["within-sla"])
    documented = {e.bucket: e.sla for e in catalog.ENDPOINTS if e.sla.documented}
    assert set(models) == set(documented)
    for bucket, model in models.items():
        sla = documented[bucket]
        assert sla.tp50_ms and sla.tp999_ms
        assert model.tp50_s * 1000 < sla.tp50_ms
        assert model.tp999_s * 1000 < sla.tp999_ms


@pytest.mark.parametrize(
    "spec",
    [
        "fast",
        "=tp50:1ms,tp999:2ms",
        f"{ELBV3}=tp50:1ms",
        f"{ELBV3}=tp50:3ms,tp999:2ms",
        f"{ELBV3}=tp50:1ms,tp999:2ms,jitter:1ms",
        f"{ELBV3}=tp50:1xs,tp999:2ms",
        f"{ELBV3}=tp50:1ms,tp999:2ms,stall:2s@every1s",
        f"{ELBV3}=tp50:1ms,tp999:2ms,tail:0%@1ms",
    ],
)
def test_bad_specs_are_refused(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_latency([spec])


def test_unknown_buckets_are_refused_by_the_settings() -> None:
    models = parse_latency(["/no/such/path=tp50:1ms,tp999:2ms"])
    with pytest.raises(ValueError, match="no bucket"):
        EmulatorSettings(latency=models)


def test_the_log_normal_passes_through_both_percentiles() -> None:
    model = LatencyModel(0.02, 0.05)
    assert model.body(0.5) == pytest.approx(0.02)
    assert model.body(0.999) == pytest.approx(0.05)
    assert model.body(0.1) < 0.02 < model.body(0.9) < 0.05


def test_stalls_hold_the_end_of_every_period() -> None:
    model = LatencyModel(0.01, 0.02, stall=Stall(1.0, 10.0))
    assert model.stalled_until(3.0) == 3.0
    assert model.stalled_until(9.0) == 10.0
    assert model.stalled_until(9.99) == 10.0
    assert model.stalled_until(10.5) == 10.5
    assert model.stalled_until(19.2) == 20.0


def test_the_tail_adds_only_to_its_share() -> None:
    model = LatencyModel(0.01, 0.02, tail=Tail(0.05, 0.1))
    assert model.extra(0.05) == model.extra(0.9) == 0.0
    assert model.extra(0.0) == pytest.approx(0.1)
    assert model.extra(0.04) > model.extra(0.01) > 0.1


def test_draws_spread_evenly_over_the_distribution() -> None:
    now = [100.0]
    latency = Latency({ELBV3: LatencyModel(0.02, 0.05)}, seed=7, clock=lambda: now[0])
    due = [latency.due(ELBV3, 100.0) for _ in range(3000)]
    waits = sorted(d - 100.0 for d in due if d is not None)
    assert waits[math.ceil(0.5 * 3000) - 1] == pytest.approx(0.02, rel=0.01)
    assert waits[math.ceil(0.999 * 3000) - 1] == pytest.approx(0.05, rel=0.05)
    assert latency.due(catalog.AUDIT_LOGS.bucket, 100.0) is None


def test_a_stall_holds_a_request_until_it_ends() -> None:
    model = LatencyModel(0.01, 0.02, stall=Stall(1.0, 3.0))
    latency = Latency({ELBV3: model}, seed=7, clock=lambda: 50.0)
    due = latency.due(ELBV3, 52.5)
    assert due is not None and 53.0 + 0.005 < due < 53.0 + 0.03


async def test_the_gateway_holds_answers_for_the_model() -> None:
    models = parse_latency([f"{ELBV3}=tp50:80ms,tp999:100ms"])
    async with running_emulator(EmulatorSettings(latency=models)) as site:
        async with aiohttp.ClientSession() as http:
            started = time.monotonic()
            async with http.get(site.base_url + ELBV3) as response:
                await response.read()
                # A 401 (no token) is answered as late as a 200 would be.
                assert response.status == 401
            assert time.monotonic() - started >= 0.05


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser.parse_args(argv)


def test_the_command_line_and_environment_set_models(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENV, f"{ELBV3}=tp50:1ms,tp999:2ms;within-sla")
    from_env = cli.settings_from(parse())
    assert from_env.latency[ELBV3] == LatencyModel(0.0005, 0.002)
    given = cli.settings_from(parse("--latency", f"{ELBV3}=tp50:3ms,tp999:4ms"))
    assert dict(given.latency) == {ELBV3: LatencyModel(0.003, 0.004)}


def test_a_bad_latency_argument_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(parse("--latency", "slow")) == 2
    assert capsys.readouterr().err.startswith("harvester emulate: ")


def test_durations_and_environment_lists() -> None:
    assert seconds("500us") == pytest.approx(0.0005)
    assert seconds("1.5s") == 1.5
    assert from_environment(None) == []
    assert from_environment("a; ;b") == ["a", "b"]
