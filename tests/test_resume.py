"""Interrupted runs resume exactly; incremental runs tile time."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest
from test_harvest import FAST, SECRETS

from harvester import catalog, config
from harvester.emulator.server import RunningEmulator, running_emulator
from harvester.emulator.settings import EmulatorSettings
from harvester.manifest import load
from harvester.runner import harvest
from harvester.verify import verify

CAPACITY = catalog.SERVICE_CAPACITY.bucket
# Slow enough that a run is still going when it is stopped.
SLOW = {**FAST, CAPACITY: (5, 1.0)}
STREAMS = ["service_capacity.*", "host_*", "elbv3"]


@pytest.fixture
async def site() -> AsyncIterator[RunningEmulator]:
    settings = EmulatorSettings(
        password=SECRETS.password, app_code=SECRETS.app_code, limits=SLOW
    )
    async with running_emulator(settings) as emulator:
        yield emulator


def write_config(site: RunningEmulator, out: Path, **run: object) -> Path:
    buckets = "".join(
        f'[buckets."{path}"]\nlimit = {limit}\nperiod = {period}\n'
        for path, (limit, period) in SLOW.items()
    )
    streams = orjson.dumps(run.pop("streams", STREAMS)).decode()
    settings = "".join(
        f"{key} = {orjson.dumps(value).decode()}\n" for key, value in run.items()
    )
    path = out.parent / f"{out.name}.toml"
    path.write_text(
        f'[site]\nbase_url = "{site.base_url}"\n'
        f'[run]\nout = "{out}"\nstreams = {streams}\n{settings}{buckets}'
    )
    return path


async def start(
    config: Path, *args: str, stdout: int = asyncio.subprocess.DEVNULL
) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "ESM_PASSWORD": SECRETS.password,
        "ESM_APP_CODE": SECRETS.app_code,
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "harvester",
        "-q",
        "run",
        "-c",
        str(config),
        *args,
        env=env,
        stdout=stdout,
        stderr=asyncio.subprocess.PIPE,
    )


async def checkpoints_reach(out: Path, count: int) -> None:
    log = out / "checkpoints.ndjson"
    with anyio.fail_after(30):
        # Another process writes the log: polling is the only way to watch.
        while len(_lines(log)) < count:  # noqa: ASYNC110
            await asyncio.sleep(0.02)


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines() if path.exists() else []


def visible_data(out: Path) -> list[Path]:
    return [
        p
        for p in out.rglob("*.ndjson")
        if not p.name.startswith(".") and p.name != "checkpoints.ndjson"
    ]


async def finish_and_verify(
    site: RunningEmulator, config: Path, out: Path
) -> dict[str, Any]:
    process = await start(config)
    _, errors = await process.communicate()
    assert process.returncode == 0, errors.decode()
    checks = await verify(out, site.base_url)
    assert [c.stream for c in checks if not c.exact] == []
    assert not list(out.rglob(".*.tmp"))
    return load(out)


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)]
)
async def test_a_signal_stops_cleanly_and_the_rerun_resumes(
    site: RunningEmulator, tmp_path: Path, signum: int, code: int
) -> None:
    out = tmp_path / "out"
    config = write_config(site, out)
    process = await start(config)
    await checkpoints_reach(out, 5)
    process.send_signal(signum)
    _, errors = await process.communicate()

    assert process.returncode == code, errors.decode()
    assert b"rerun the same command to resume" in errors
    assert not list(out.rglob(".*.tmp"))
    stopped = load(out)
    assert stopped["totals"]["units"] < 23

    manifest = await finish_and_verify(site, config, out)
    assert manifest["totals"]["resumed_units"] >= 5
    assert manifest["since"] == stopped["since"]


async def test_sigkill_loses_nothing_committed_and_shows_nothing_partial(
    site: RunningEmulator, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    config = write_config(site, out)
    process = await start(config)
    await checkpoints_reach(out, 8)
    process.kill()
    await process.wait()

    for path in visible_data(out):
        data = path.read_bytes()
        assert data.endswith(b"\n")
        assert all(orjson.loads(line) for line in data.splitlines())

    manifest = await finish_and_verify(site, config, out)
    assert manifest["totals"]["resumed_units"] >= 8


async def test_cancelling_a_run_in_process_keeps_the_rerun_exact(
    site: RunningEmulator, tmp_path: Path
) -> None:
    buckets = {path: {"limit": n, "period": w} for path, (n, w) in SLOW.items()}
    settings = config.from_mapping(
        {
            "site": {"base_url": site.base_url},
            "run": {"streams": STREAMS, "out": str(tmp_path)},
            "buckets": buckets,
        }
    )
    async with anyio.create_task_group() as group:
        group.start_soon(harvest, settings, SECRETS, tmp_path)
        await checkpoints_reach(tmp_path, 5)
        group.cancel_scope.cancel()
    assert not list(tmp_path.rglob(".*.tmp"))
    await harvest(settings, SECRETS, tmp_path)
    assert load(tmp_path)["totals"]["resumed_units"] >= 5
    checks = await verify(tmp_path, site.base_url)
    assert all(c.exact for c in checks)


async def test_incremental_runs_tile_time_without_gap_or_overlap(
    site: RunningEmulator, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    config_file = write_config(
        site, out, since="auto", auto_start="-2d", settle="2m", streams=["host_*"]
    )
    first = await finish_and_verify(site, config_file, out)
    second = await finish_and_verify(site, config_file, out)

    for name in ("host_details", "host_metrics"):
        assert second["streams"][name]["since"] == first["streams"][name]["until"]
    started = datetime.fromisoformat(first["started_at"]).timestamp() * 1000
    settle = started - first["streams"]["host_details"]["until"]
    assert 115_000 <= settle <= 125_000


async def test_the_built_in_emulator_ends_with_a_killed_run(tmp_path: Path) -> None:
    config_file = tmp_path / "demo.toml"
    config_file.write_text(f'[run]\nout = "{tmp_path / "out"}"\nsince = "-3d"\n')
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "harvester",
        "-q",
        "run",
        "-c",
        str(config_file),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    await checkpoints_reach(tmp_path / "out", 1)
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    [child] = children.read_text().split()
    process.kill()
    await process.wait()
    with anyio.fail_after(10):
        while Path(f"/proc/{child}").exists():  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def test_a_window_that_has_not_settled_is_taken_again(
    site: RunningEmulator, tmp_path: Path
) -> None:
    now = int(datetime.now().timestamp() * 1000)
    out = tmp_path / "out"
    config_file = write_config(
        site, out, since=now - 3_600_000, until=now + 60_000, streams=["host_*"]
    )
    first = await finish_and_verify(site, config_file, out)
    second = await finish_and_verify(site, config_file, out)
    assert first["totals"]["unsettled_units"] > 0
    for name in ("host_details", "host_metrics"):
        units = second["streams"][name]["units"]
        assert units and not any(unit["resumed"] for unit in units)
    assert second["since"] == first["since"]


async def test_records_sent_to_stdout_are_sent_again_on_a_rerun(
    site: RunningEmulator, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    config_file = write_config(
        site,
        out,
        streams=["elbv3"],
        since="2026-12-01T00:00:00Z",
        until="2026-12-02T00:00:00Z",
    )
    config_file.write_text(config_file.read_text() + '[sink]\nkind = "stdout"\n')
    outputs = []
    for _ in range(2):
        process = await start(config_file, stdout=asyncio.subprocess.PIPE)
        records, _ = await process.communicate()
        outputs.append(records.splitlines())
    assert outputs[0] == outputs[1] and len(outputs[0]) == 4
    assert all(orjson.loads(line)["stream"] == "elbv3" for line in outputs[0])
