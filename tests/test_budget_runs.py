"""Whole runs sharing a budget in Redis, against one emulator on loopback."""

from __future__ import annotations

import asyncio
import logging
import secrets
import traceback
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from redis_server import RedisServer, Unavailable
from test_harvest import FAST, SECRETS, stats

from harvester import config
from harvester.checkpoints import CheckpointStore
from harvester.emulator.server import RunningEmulator, running_emulator
from harvester.emulator.settings import EmulatorSettings
from harvester.errors import BudgetError
from harvester.manifest import load
from harvester.runner import harvest
from harvester.verify import verify

# The busiest bucket of these streams (24 requests a run) gets a budget
# that one run alone needs two windows for, set alike on both sides.
BUSY = "/rest/dataapi/homs/open-api/v1/host/metricdata"
STREAMS = ["host_*", "elbv3"]
LIMITS = {**FAST, BUSY: (16, 3.0)}


def start_redis(password: str = "") -> RedisServer:
    try:
        return RedisServer.start(password)
    except Unavailable as reason:
        pytest.skip(f"no Redis server: {reason}")


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    running = start_redis()
    yield running
    running.stop()


@pytest.fixture
async def site() -> AsyncIterator[RunningEmulator]:
    settings = EmulatorSettings(
        password=SECRETS.password,
        app_code=SECRETS.app_code,
        limits=LIMITS,
        sdr_job_seconds=0.5,
    )
    async with running_emulator(settings) as emulator:
        yield emulator


def run_config(
    base_url: str, out: Path, streams: list[str] = STREAMS
) -> config.RunConfig:
    buckets = {path: {"limit": n, "period": w} for path, (n, w) in LIMITS.items()}
    return config.from_mapping(
        {
            "site": {"base_url": base_url},
            "run": {
                "since": "-1d",
                "until": "now",
                "out": str(out),
                "streams": streams,
            },
            "buckets": buckets,
            "budget": {"kind": "redis"},
        }
    )


async def requests_seen(base_url: str) -> int:
    return sum(bucket["requests"] for bucket in (await stats(base_url)).values())


async def test_two_runs_at_once_keep_every_bucket_within_its_limit(
    server: RedisServer, site: RunningEmulator, tmp_path: Path
) -> None:
    shared = replace(SECRETS, redis_url=server.url)
    outs = [tmp_path / "first", tmp_path / "second"]
    async with asyncio.TaskGroup() as group:
        runs = [
            group.create_task(harvest(run_config(site.base_url, out), shared, out))
            for out in outs
        ]

    assert [run.result().fatal for run in runs] == [None, None]
    counted = await stats(site.base_url)
    # Each run alone would have sent the busy bucket's whole limit at once.
    assert counted[BUSY]["requests"] >= 2 * counted[BUSY]["limit"]
    assert {path: b["throttled"] for path, b in counted.items() if b["throttled"]} == {}
    for path, bucket in counted.items():
        assert bucket["max_in_window"] <= bucket["limit"], path
    for out in outs:
        checks = await verify(out, site.base_url)
        assert [c.stream for c in checks if not c.exact] == []


async def test_redis_stopped_mid_run_stops_the_run_and_its_requests(
    site: RunningEmulator, tmp_path: Path
) -> None:
    own = start_redis()
    try:
        shared = replace(SECRETS, redis_url=own.url)
        run = asyncio.create_task(
            harvest(run_config(site.base_url, tmp_path), shared, tmp_path)
        )
        # Stopped once units are committed and the busy bucket has spent
        # its first window, so the run still has requests to send.
        committed: dict[str, dict[str, object]] = {}
        while not committed or (await stats(site.base_url))[BUSY]["requests"] < 16:
            await asyncio.sleep(0.05)
            committed = CheckpointStore(tmp_path).load().completed
        own.kill()
        outcome = await run
    finally:
        own.stop()

    assert isinstance(outcome.fatal, BudgetError)
    assert f"127.0.0.1:{own.port}" in str(outcome.fatal)
    assert "\n" not in str(outcome.fatal)
    seen = await requests_seen(site.base_url)
    await asyncio.sleep(1.0)
    assert await requests_seen(site.base_url) == seen
    manifest = load(tmp_path)
    assert sum(b["requests"] for b in manifest["buckets"].values()) == seen
    assert manifest["failed_units"]
    kept = CheckpointStore(tmp_path).load().completed
    assert {unit: kept.get(unit) for unit in committed} == committed
    for entry in committed.values():
        assert (tmp_path / str(entry["location"])).is_file()


async def test_the_redis_password_is_never_shown(
    site: RunningEmulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    password = secrets.token_urlsafe(18)
    wrong = secrets.token_urlsafe(18)
    own = start_redis(password)
    try:
        good = replace(SECRETS, redis_url=own.url)
        outcome = await harvest(
            run_config(site.base_url, tmp_path / "good", ["elbv3"]),
            good,
            tmp_path / "good",
        )
        refused = replace(SECRETS, redis_url=own.url.replace(password, wrong))
        with pytest.raises(BudgetError) as failure:
            await harvest(
                run_config(site.base_url, tmp_path / "wrong", ["elbv3"]),
                refused,
                tmp_path / "wrong",
            )
    finally:
        own.stop()

    assert outcome.fatal is None
    assert f"127.0.0.1:{own.port}" in str(failure.value)
    shown = [
        caplog.text,
        "".join(traceback.format_exception(failure.value)),
        *(path.read_text() for path in tmp_path.rglob("*.json")),
    ]
    assert "budget" in caplog.text
    for text in shown:
        assert password not in text
        assert wrong not in text
