"""Whole harvests under each of the emulator's fault profiles stay exact."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from test_harvest import FAST, SECRETS, run_config

from harvester import catalog
from harvester.config import BucketConfig
from harvester.emulator.server import running_emulator
from harvester.emulator.settings import EmulatorSettings
from harvester.errors import UnreachableError
from harvester.manifest import load
from harvester.runner import harvest
from harvester.verify import verify

STREAMS = [
    "host_*",
    "device_assets",
    "elbv3",
    "tenant_resources.ecs",
    "sdr",
    "external_resources.ecs",
    "service_capacity.e*",
]


@pytest.mark.parametrize(
    "profile",
    [
        "flaky",
        "drop",
        "truncated",
        "throttle-storm",
        "shifting-total",
        "expire-tokens",
        "sdr-failure",
        "slow",
    ],
)
async def test_a_harvest_under_faults_is_exact(profile: str, tmp_path: Path) -> None:
    settings = EmulatorSettings(
        password=SECRETS.password,
        app_code=SECRETS.app_code,
        limits=FAST,
        faults=profile,
        sdr_job_seconds=0.3,
        seed=11,
    )
    async with running_emulator(settings) as emulator:
        run = run_config(emulator.base_url, tmp_path, streams=STREAMS, since="-3d")
        outcome = await harvest(run, SECRETS, tmp_path)
        checks = await verify(tmp_path, emulator.base_url)
    manifest = load(tmp_path)
    assert outcome.fatal is None
    assert manifest["failed_units"] == []
    assert [c.stream for c in checks if not c.exact] == []
    assert sum(c.harvested for c in checks) > 1000
    if profile in ("flaky", "drop", "truncated", "throttle-storm"):
        assert manifest["totals"]["retries"] > 0
    if profile == "throttle-storm":
        assert manifest["totals"]["throttled"] > 0


async def test_tokens_that_go_stale_early_are_renewed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tokens die long before the `expires_at` they were issued with, as
    # after a password change: only the gateway's 401 can tell.
    monkeypatch.setattr("harvester.emulator.faults.EXPIRED_TOKEN_TTL_S", 0.3)
    settings = EmulatorSettings(
        password=SECRETS.password,
        app_code=SECRETS.app_code,
        limits=FAST,
        faults="expire-tokens",
    )
    async with running_emulator(settings) as emulator:
        run = run_config(emulator.base_url, tmp_path, streams=["host_*"], since="-5d")
        outcome = await harvest(run, SECRETS, tmp_path)
        checks = await verify(tmp_path, emulator.base_url)
    assert outcome.fatal is None
    assert load(tmp_path)["failed_units"] == []
    assert all(c.exact for c in checks)
    assert load(tmp_path)["totals"]["tokens_issued"] > 1


async def test_requests_that_queued_past_a_token_renewal_do_not_stop_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tier-2 requests wait long in their bucket; tokens die meanwhile.
    monkeypatch.setattr("harvester.emulator.faults.EXPIRED_TOKEN_TTL_S", 0.4)
    limits = {**FAST, catalog.SERVICE_CAPACITY.bucket: (6, 1.0)}
    settings = EmulatorSettings(
        password=SECRETS.password,
        app_code=SECRETS.app_code,
        limits=limits,
        faults="expire-tokens",
    )
    async with running_emulator(settings) as emulator:
        run = run_config(emulator.base_url, tmp_path, streams=["service_capacity.*"])
        run = dataclasses.replace(
            run,
            buckets={
                **run.buckets,
                catalog.SERVICE_CAPACITY.bucket: BucketConfig(6, 1.0),
            },
        )
        outcome = await harvest(run, SECRETS, tmp_path)
        checks = await verify(tmp_path, emulator.base_url)
    assert outcome.fatal is None
    assert all(c.exact for c in checks)
    assert load(tmp_path)["totals"]["tokens_issued"] > 1


async def test_an_unreachable_site_stops_the_run_at_once(tmp_path: Path) -> None:
    run = run_config(
        "http://127.0.0.1:9", tmp_path, streams=["host_*", "elbv3"], attempts=2
    )
    outcome = await harvest(run, SECRETS, tmp_path)
    assert isinstance(outcome.fatal, UnreachableError)
    assert "127.0.0.1:9" in str(outcome.fatal)
    failed = outcome.report.failed_units
    assert failed and all("cannot reach IAM" in unit.error for unit in failed)


async def test_a_missing_grant_stops_the_run_naming_it(tmp_path: Path) -> None:
    settings = EmulatorSettings(
        password=SECRETS.password,
        app_code=SECRETS.app_code,
        limits=FAST,
        faults="forbidden",
    )
    async with running_emulator(settings) as emulator:
        run = run_config(emulator.base_url, tmp_path, streams=["elbv3", "host_*"])
        outcome = await harvest(run, SECRETS, tmp_path)
    assert outcome.fatal is not None
    assert "403 APIG.0302" in str(outcome.fatal)
    assert "no grant for this API" in str(outcome.fatal)
