"""verify: exact only when the files are whole, wherever they were moved."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from test_harvest import FAST, SECRETS, run_config

from harvester.emulator.server import RunningEmulator, running_emulator
from harvester.emulator.settings import EmulatorSettings
from harvester.errors import VerifyError
from harvester.manifest import load
from harvester.runner import harvest
from harvester.verify import verify


@pytest.fixture
async def site() -> AsyncIterator[RunningEmulator]:
    settings = EmulatorSettings(
        password=SECRETS.password, app_code=SECRETS.app_code, limits=FAST
    )
    async with running_emulator(settings) as emulator:
        yield emulator


@pytest.fixture
async def harvested(site: RunningEmulator, tmp_path: Path) -> AsyncIterator[Path]:
    out = tmp_path / "first"
    await harvest(run_config(site.base_url, out, streams=["audit_logs"]), SECRETS, out)
    yield out


def unit_file(out: Path) -> Path:
    [unit] = load(out)["streams"]["audit_logs"]["units"]
    return out / unit["location"]


async def test_a_moved_harvest_still_verifies(
    site: RunningEmulator,
    harvested: Path,
    tmp_path: Path,
) -> None:
    moved = tmp_path / "moved"
    shutil.move(harvested, moved)
    [check] = await verify(moved, site.base_url)
    assert check.exact and check.harvested > 0


async def test_a_tampered_copy_is_caught(
    site: RunningEmulator,
    harvested: Path,
    tmp_path: Path,
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(harvested, copy)
    lines = unit_file(copy).read_bytes().splitlines(keepends=True)
    unit_file(copy).write_bytes(b"".join([lines[0], *lines[:-1]]))
    [check] = await verify(copy, site.base_url)
    [original] = await verify(harvested, site.base_url)
    assert (check.lost, check.duplicated, check.corrupt_units) == (1, 1, 1)
    assert original.exact


@pytest.mark.parametrize("base_url", ["http://127.0.0.1:9", "not a url"])
async def test_an_unusable_emulator_url_is_one_error(
    harvested: Path, base_url: str
) -> None:
    with pytest.raises(VerifyError) as caught:
        await verify(harvested, base_url)
    assert "\n" not in str(caught.value)


async def test_a_broken_manifest_is_one_error(harvested: Path) -> None:
    (harvested / "manifest.json").write_text("{")
    with pytest.raises(VerifyError, match="not valid JSON"):
        await verify(harvested, "http://127.0.0.1:9")
