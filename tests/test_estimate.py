"""`harvester plan`: forecasts from the plan and history, checked against a run."""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from harvester import catalog, config, estimate, manifest
from harvester.config import BucketConfig, Secrets
from harvester.emulator.server import running_emulator
from harvester.emulator.settings import EmulatorSettings
from harvester.errors import ConfigError
from harvester.plan import DAY_MS, build
from harvester.runner import harvest

HOUR = 3_600_000
DEMO = Path(__file__).resolve().parents[1] / "configs" / "demo.toml"
SECRETS = Secrets("test-password-123", "test-app-code-456")
CAPACITY = catalog.SERVICE_CAPACITY.bucket
METRICS = catalog.HOST_METRICS.bucket
T0 = 20_000 * DAY_MS


def settings(**run: Any) -> config.RunConfig:
    span = {"since": T0, "until": T0 + DAY_MS, **run}
    return config.from_mapping({"run": span})


def write_history(out: Path, units: list[dict[str, Any]], **buckets: Any) -> None:
    """A manifest and checkpoints as an earlier run would leave them."""
    streams: dict[str, Any] = {}
    for unit in units:
        unit.setdefault("status", "ok")
        unit.setdefault("location", f"{len(streams)}-{unit['unit']}".replace("/", "_"))
        (out / unit["location"]).touch()
        streams.setdefault(unit["stream"], {"units": []})["units"].append(unit)
    data = {"streams": streams, "buckets": buckets}
    (out / manifest.MANIFEST).write_bytes(orjson.dumps(data))
    lines = b"".join(orjson.dumps(u) + b"\n" for u in units)
    (out / "checkpoints.ndjson").write_bytes(lines)


def test_without_history_every_unit_is_one_page(tmp_path: Path) -> None:
    plan = build(settings(streams=["service_capacity.*", "host_*"]), T0 + DAY_MS)
    result = estimate.estimate(plan, settings(), estimate.History())

    rows = {b.bucket: b for b in result.buckets}
    assert rows[CAPACITY].units == rows[CAPACITY].requests == 10
    assert rows[CAPACITY].basis == "one page"
    assert rows[METRICS].units == 1
    [metrics] = [s for s in result.streams if s.stream == "host_metrics"]
    assert metrics.partitions is None
    assert any("host_metrics: partitions unknown" in n for n in result.notes)
    assert rows[catalog.IAM_TOKEN.bucket].requests == 1
    assert result.busiest == CAPACITY
    assert result.wall_seconds == pytest.approx((10 - 1) / (60 / 60.6))


def test_history_scales_records_by_window_and_names_partitions(
    tmp_path: Path,
) -> None:
    # The earlier run saw 2500 records a day per host and named 3 hosts.
    hosts = ["h1", "h2", "h3"]
    parent = {
        "unit": "host_details/d/all",
        "stream": "host_details",
        "partition": None,
        "window": [T0, T0 + DAY_MS],
        "records": 72,
        "partitions": hosts,
    }
    children = [
        {
            "unit": f"host_metrics/d/{host}",
            "stream": "host_metrics",
            "partition": host,
            "window": [T0, T0 + DAY_MS],
            "records": 2500,
        }
        for host in hosts
    ]
    write_history(tmp_path, [parent, *children])
    history = estimate.History.read(tmp_path)
    assert history.partitions["host_details"] == frozenset(hosts)

    half_days = settings(streams=["host_metrics"], window="12h")
    plan = build(half_days, T0 + DAY_MS)
    result = estimate.estimate(plan, half_days, history)

    [metrics] = [s for s in result.streams if s.stream == "host_metrics"]
    # 3 hosts x 2 windows of 1250 records, 1000 a page: 2 pages each.
    assert (metrics.units, metrics.requests, metrics.partitions) == (6, 12, 3)
    assert metrics.basis == "history"
    assert result.notes == ()


def test_completed_windows_are_skipped_and_sdr_polls_follow_history(
    tmp_path: Path,
) -> None:
    run = settings(streams=["sdr"], until=T0 + 3 * DAY_MS)
    plan = build(run, T0 + 3 * DAY_MS)
    [first, *_] = plan.root_units()
    done = {
        "unit": first.key,
        "stream": "sdr",
        "partition": None,
        "window": [T0, T0 + DAY_MS],
        "records": 450,
    }
    polls = {
        catalog.SDR_CREATE_JOB.bucket: {"requests": 2},
        catalog.SDR_JOB_STATUS.bucket: {"requests": 10},
    }
    write_history(tmp_path, [done], **polls)
    result = estimate.estimate(plan, run, estimate.History.read(tmp_path))

    rows = {b.bucket: b for b in result.buckets}
    assert result.skipped_units == 1
    assert rows[catalog.SDR_JOB_DATA.bucket].requests == 2 * 3  # 450 / 200
    assert rows[catalog.SDR_CREATE_JOB.bucket].requests == 2
    assert rows[catalog.SDR_JOB_STATUS.bucket].requests == 2 * 5
    # Five polls wait 1 + 2 + 4 + 8 s between them.
    assert result.wall_seconds >= 15.0


def test_a_manifest_of_another_shape_is_no_history(tmp_path: Path) -> None:
    (tmp_path / manifest.MANIFEST).write_bytes(b'{"streams": {"x": 1}}')
    assert estimate.History.read(tmp_path) == estimate.History()


def test_plan_command_prints_json_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    estimate.add_arguments(parser)
    out = tmp_path / "out"
    args = parser.parse_args(
        ["-c", str(DEMO), "--out", str(out), "--streams", "elbv3", "--json"]
    )
    assert estimate.main(args) == 0

    data = orjson.loads(capsys.readouterr().out)
    [row] = [b for b in data["buckets"] if b["bucket"] == catalog.ELBV3.bucket]
    assert (row["requests"], row["basis"]) == (1, "one page")
    assert not out.exists()

    args = parser.parse_args(["-c", str(DEMO), "--out", str(out)])
    assert estimate.main(args) == 0
    text = capsys.readouterr().out
    assert "estimated wall time: " in text and "no request was sent" in text


def test_bad_config_is_a_config_error(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    estimate.add_arguments(parser)
    with pytest.raises(ConfigError):
        estimate.main(parser.parse_args(["-c", str(tmp_path / "missing.toml")]))


async def test_forecast_of_the_demo_is_within_a_fifth_of_its_run(
    tmp_path: Path,
) -> None:
    # The demo's wall time is set by its 60-a-minute buckets; here every
    # such bucket is faster, and CloudService/capacity (10 units) is the
    # busiest at 20 per 8 s, as it is at 60 per minute in the demo.
    limits = {e.bucket: (600, 60.0) for e in catalog.ENDPOINTS if e.sla.limit == 60} | {
        CAPACITY: (20, 8.0)
    }
    site = EmulatorSettings(
        password=SECRETS.password,
        app_code=SECRETS.app_code,
        limits=limits,
        sdr_job_seconds=0.5,
    )
    async with running_emulator(site) as emulator:
        demo = config.load(DEMO)
        run = dataclasses.replace(
            demo,
            site=dataclasses.replace(demo.site, base_url=emulator.base_url),
            buckets={p: BucketConfig(n, w) for p, (n, w) in limits.items()},
            out=str(tmp_path),
        )
        before = estimate.forecast(run, tmp_path, now_ms())
        await harvest(run, SECRETS, tmp_path)
    done = manifest.load(tmp_path)
    after = estimate.forecast(run, tmp_path, now_ms())

    wall = done["wall_seconds"]
    print(f"forecast {before.wall_seconds:.2f} s, run {wall:.2f} s")
    assert done["failed_units"] == []
    assert before.busiest == CAPACITY
    assert before.wall_seconds == pytest.approx(wall, rel=0.2)
    # With the run as history, the requests forecast match those sent.
    sent = {path: b["requests"] for path, b in done["buckets"].items()}
    planned = after.requests()
    assert sum(planned.values()) == pytest.approx(sum(sent.values()), rel=0.1)
    assert planned[METRICS] == sent[METRICS]
    [metrics] = [s for s in after.streams if s.stream == "host_metrics"]
    assert metrics.partitions == metrics.units > 1
    assert after.wall_seconds == pytest.approx(wall, rel=0.2)


def now_ms() -> int:
    return int(time.time() * 1000)
