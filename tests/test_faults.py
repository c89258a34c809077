"""Whole harvests under each of the emulator's fault profiles stay exact."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_harvest import FAST, SECRETS, run_config

from harvester.emulator.server import running_emulator
from harvester.emulator.settings import EmulatorSettings
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
