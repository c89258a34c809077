"""A whole site, harvested end to end from an emulator on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import orjson
import pytest

from harvester import catalog, config
from harvester.config import Secrets
from harvester.emulator.server import RunningEmulator, running_emulator
from harvester.emulator.settings import EmulatorSettings
from harvester.manifest import load
from harvester.runner import harvest
from harvester.verify import verify

SECRETS = Secrets("test-password-123", "test-app-code-456")
# Tier-2 and undocumented buckets allow 60 a minute; both sides agree on a
# faster budget so the suite stays quick. The limiter logic is the same.
FAST = {
    endpoint.bucket: (600, 60.0)
    for endpoint in catalog.ENDPOINTS
    if endpoint.sla.limit == 60
}


@pytest.fixture
async def site() -> AsyncIterator[RunningEmulator]:
    settings = EmulatorSettings(
        password=SECRETS.password,
        app_code=SECRETS.app_code,
        limits=FAST,
        sdr_job_seconds=0.5,
    )
    async with running_emulator(settings) as emulator:
        yield emulator


def run_config(base_url: str, out: Path, **run: object) -> config.RunConfig:
    buckets = {path: {"limit": n, "period": w} for path, (n, w) in FAST.items()}
    return config.from_mapping(
        {
            "site": {"base_url": base_url},
            "run": {"since": "-1d", "until": "now", "out": str(out), **run},
            "buckets": buckets,
        }
    )


async def stats(base_url: str) -> dict[str, dict[str, int]]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base_url}/_emulator/stats") as response:
            buckets: dict[str, dict[str, int]] = (await response.json())["buckets"]
    return buckets


async def test_whole_site_harvest_is_exact(
    site: RunningEmulator, tmp_path: Path
) -> None:
    outcome = await harvest(run_config(site.base_url, tmp_path), SECRETS, tmp_path)

    manifest = load(tmp_path)
    assert manifest["failed_units"] == []
    assert manifest["totals"]["throttled"] == 0
    assert set(manifest["streams"]) == {s.name for s in catalog.STREAMS}
    assert manifest["totals"]["records"] > 10_000
    assert outcome.fatal is None

    checks = await verify(tmp_path, site.base_url)
    assert [c.stream for c in checks if not c.exact] == []
    assert all(c.expected > 0 for c in checks if c.stream != "sdr")

    counted = await stats(site.base_url)
    assert sum(b["throttled"] for b in counted.values()) == 0
    for path, bucket in counted.items():
        assert bucket["max_in_window"] <= bucket["limit"], path


async def test_records_are_written_as_the_site_sent_them(
    site: RunningEmulator, tmp_path: Path
) -> None:
    settings = run_config(site.base_url, tmp_path, streams=["device_assets"])
    await harvest(settings, SECRETS, tmp_path)
    [unit] = load(tmp_path)["streams"]["device_assets"]["units"]
    written = (tmp_path / unit["location"]).read_bytes().splitlines()
    async with aiohttp.ClientSession() as session:
        params = {"stream": "device_assets"}
        async with session.get(f"{site.base_url}/_emulator/truth", params=params) as r:
            truth = (await r.read()).splitlines()
    assert sorted(written) == sorted(truth)
    assert all(orjson.loads(line) for line in written)


async def test_wrong_password_stops_the_run(
    site: RunningEmulator, tmp_path: Path
) -> None:
    wrong = Secrets("not-the-password", SECRETS.app_code)
    outcome = await harvest(run_config(site.base_url, tmp_path), wrong, tmp_path)
    assert outcome.fatal is not None
    assert "not-the-password" not in (tmp_path / "manifest.json").read_text()


async def test_every_arrival_at_the_site_was_counted_by_a_bucket(
    tmp_path: Path,
) -> None:
    # With connections dropped under it, an HTTP client that resends on
    # its own would reach the site more often than the buckets allowed.
    settings = EmulatorSettings(
        password=SECRETS.password,
        app_code=SECRETS.app_code,
        limits=FAST,
        faults="drop",
        seed=3,
    )
    async with running_emulator(settings) as emulator:
        run = run_config(emulator.base_url, tmp_path, streams=["host_*", "elbv3"])
        await harvest(run, SECRETS, tmp_path)
        counted = await stats(emulator.base_url)
    sent = load(tmp_path)["buckets"]
    assert sum(b["retries"] for b in sent.values()) > 0
    for path, bucket in sent.items():
        assert counted[path]["requests"] == bucket["requests"], path
