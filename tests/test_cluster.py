"""Cluster runs on Ray: exact, within budget, on loopback, and whole when
workers or the driver die.

Each test runs `harvester run --executor ray` as a user would, in a child
process that starts its own Ray cluster, against an emulator this process
serves on loopback.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import signal
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import psutil
import pytest
from redis_server import RedisServer, Unavailable
from test_harvest import SECRETS, stats
from test_resume import (
    CAPACITY,
    SLOW,
    checkpoints_reach,
    site,  # noqa: F401 - the emulator fixture
    start,
    visible_data,
    write_config,
)

from harvester import config
from harvester.emulator.server import RunningEmulator
from harvester.manifest import load
from harvester.runner import harvest
from harvester.verify import verify

pytestmark = pytest.mark.timeout(240)

WATCH_EVERY_S = 0.1


def span() -> dict[str, int]:
    """One settled day ending at the last whole hour, the same for every run."""
    until = (int(time.time()) // 3600 - 1) * 3_600_000
    return {"since": until - 86_400_000, "until": until}


def cluster_config(
    emulator: RunningEmulator, out: Path, *, workers: int = 2, **tables: str
) -> Path:
    path = write_config(emulator, out, **span())
    extra = "".join(f"[{name}]\n{body}\n" for name, body in tables.items())
    path.write_text(
        path.read_text() + f'[executor]\nkind = "ray"\nworkers = {workers}\n' + extra
    )
    return path


def closed_port() -> int:
    """A loopback port nothing listens on (it was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_loopback


class Watch:
    """Every inet socket a process and its descendants hold, sampled often."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.sockets: set[tuple[str, str, str]] = set()
        self.samples = 0

    def processes(self) -> list[psutil.Process]:
        try:
            return [self.root, *self.root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def workers(self) -> list[psutil.Process]:
        found = []
        for process in self.processes():
            try:
                if process.name().startswith("ray::HarvestWorker"):
                    found.append(process)
            except psutil.NoSuchProcess:
                continue
        return found

    async def run(self) -> None:
        while True:
            for process in self.processes():
                try:
                    held = process.net_connections(kind="inet")
                    name = process.name()
                except (psutil.NoSuchProcess, psutil.ZombieProcess):
                    continue
                for held_socket in held:
                    for end in (held_socket.laddr, held_socket.raddr):
                        if end:
                            self.sockets.add((name, held_socket.status, end.ip))
            self.samples += 1
            await asyncio.sleep(WATCH_EVERY_S)

    def off_loopback(self) -> list[tuple[str, str, str]]:
        return sorted(s for s in self.sockets if not loopback(s[2]))


@pytest.fixture
async def watched() -> AsyncIterator[list[Watch]]:
    watches: list[Watch] = []
    yield watches
    for watch in watches:
        for process in watch.processes():
            process.kill()


async def run_cluster(
    config_file: Path,
    out: Path,
    watches: list[Watch],
    *,
    kill_worker_after: int | None = None,
) -> tuple[int, str, Watch]:
    """Run one cluster harvest to its end, killing a worker on the way if asked."""
    process = await start(config_file)
    watch = Watch(process.pid)
    watches.append(watch)
    async with anyio.create_task_group() as group:
        group.start_soon(watch.run)
        if kill_worker_after is not None:
            await checkpoints_reach(out, kill_worker_after)
            victims = watch.workers()
            assert len(victims) == 2
            victims[0].kill()
        _, errors = await process.communicate()
        group.cancel_scope.cancel()
    assert process.returncode is not None
    return process.returncode, errors.decode(), watch


async def local_run(emulator: RunningEmulator, out: Path) -> None:
    settings = config.load(write_config(emulator, out, **span()))
    outcome = await harvest(settings, SECRETS, out)
    assert outcome.fatal is None


@pytest.fixture
def redis_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    try:
        server = RedisServer.start()
    except Unavailable as reason:
        pytest.skip(f"no Redis server: {reason}")
    # The runs read it where the config says: ESM_REDIS_URL by default.
    monkeypatch.setenv("ESM_REDIS_URL", server.url)
    yield server.url
    server.stop()


def data_files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in visible_data(out)}


async def test_a_killed_worker_loses_nothing_and_every_socket_is_loopback(
    site: RunningEmulator,  # noqa: F811
    tmp_path: Path,
    watched: list[Watch],
) -> None:
    out = tmp_path / "ray"
    code, errors, watch = await run_cluster(
        cluster_config(site, out), out, watched, kill_worker_after=3
    )

    assert code == 0, errors
    assert "a worker died" in errors
    checks = await verify(out, site.base_url)
    assert [c.stream for c in checks if not c.exact] == []
    assert not list(out.rglob(".*.tmp"))
    manifest = load(out)
    assert manifest["failed_units"] == []
    assert manifest["totals"]["requests"] > 0
    counted = await stats(site.base_url)
    assert sum(b["throttled"] for b in counted.values()) == 0
    for path, bucket in counted.items():
        assert bucket["max_in_window"] <= bucket["limit"], path

    clean = tmp_path / "local"
    await local_run(site, clean)
    assert data_files(out) == data_files(clean)

    assert watch.samples > 10
    assert any(name.startswith("ray::HarvestWorker") for name, *_ in watch.sockets)
    assert watch.off_loopback() == []


async def test_a_killed_driver_resumes_like_a_local_run(
    site: RunningEmulator,  # noqa: F811
    tmp_path: Path,
    watched: list[Watch],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A run with no address starts its own cluster, whatever Ray's
    # environment names.
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{closed_port()}")
    out = tmp_path / "out"
    config_file = cluster_config(site, out)
    process = await start(config_file)
    watched.append(Watch(process.pid))
    await checkpoints_reach(out, 4)
    process.send_signal(signal.SIGKILL)
    await process.wait()

    code, errors, _ = await run_cluster(config_file, out, watched)

    assert code == 0, errors
    manifest = load(out)
    assert manifest["totals"]["resumed_units"] >= 4
    checks = await verify(out, site.base_url)
    assert [c.stream for c in checks if not c.exact] == []


async def test_workers_cannot_split_a_budget_smaller_than_their_number(
    site: RunningEmulator,  # noqa: F811
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    limit, _ = SLOW[CAPACITY]
    config_file = cluster_config(site, out, workers=limit + 1)

    process = await start(config_file)
    _, errors = await process.communicate()

    assert process.returncode == 2
    [line] = errors.decode().strip().splitlines()
    assert "executor.workers" in line and CAPACITY in line
    assert os.path.exists(out) is False or not visible_data(out)


async def test_a_cluster_run_and_a_local_run_share_one_redis_budget(
    site: RunningEmulator,  # noqa: F811
    tmp_path: Path,
    watched: list[Watch],
    redis_url: str,
) -> None:
    shared = 'kind = "redis"'
    cluster_out, local_out = tmp_path / "ray", tmp_path / "local"
    cluster_file = cluster_config(site, cluster_out, budget=shared)
    local_file = write_config(site, local_out, **span())
    local_file.write_text(local_file.read_text() + f"[budget]\n{shared}\n")

    async def local_run_once_the_cluster_works() -> None:
        await checkpoints_reach(cluster_out, 1)
        await harvest(config.load(local_file), SECRETS, local_out)

    # test_budget_runs shows two runs contending for one bucket; here the
    # cluster's workers are two more clients of the same budget.
    async with anyio.create_task_group() as group:
        group.start_soon(local_run_once_the_cluster_works)
        code, errors, watch = await run_cluster(
            cluster_file, cluster_out, watched, kill_worker_after=3
        )

    assert code == 0, errors
    assert "a worker died" in errors
    for out in (cluster_out, local_out):
        assert load(out)["failed_units"] == []
        checks = await verify(out, site.base_url)
        assert [c.stream for c in checks if not c.exact] == []
    counted = await stats(site.base_url)
    assert sum(b["throttled"] for b in counted.values()) == 0, counted
    for path, bucket in counted.items():
        assert bucket["max_in_window"] <= bucket["limit"], path
    assert watch.off_loopback() == []


async def one_line_refusal(config_file: Path, *args: str) -> tuple[int, str]:
    process = await start(config_file, *args)
    with anyio.fail_after(60):
        _, errors = await process.communicate()
    assert process.returncode is not None
    [line] = errors.decode().strip().splitlines()
    return process.returncode, line


async def test_refusals_under_ray_are_one_line(
    site: RunningEmulator,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stdout = cluster_config(site, tmp_path / "a", sink='kind = "stdout"')
    code, line = await one_line_refusal(stdout)
    assert code == 2 and "sink.kind" in line

    unreachable = cluster_config(site, tmp_path / "b")
    code, line = await one_line_refusal(
        unreachable, "--ray-address", f"127.0.0.1:{closed_port()}"
    )
    assert code == 2 and "cannot reach Ray" in line

    # Raised while the workers start, inside task groups.
    monkeypatch.setenv("ESM_REDIS_URL", f"redis://127.0.0.1:{closed_port()}/0")
    no_redis = cluster_config(site, tmp_path / "c", budget='kind = "redis"')
    code, line = await one_line_refusal(no_redis)
    assert code == 1 and "shared budget" in line


async def test_a_stopped_cluster_run_leaves_no_unit_unrecorded(
    site: RunningEmulator,  # noqa: F811
    tmp_path: Path,
    watched: list[Watch],
) -> None:
    out = tmp_path / "out"
    process = await start(cluster_config(site, out))
    watched.append(Watch(process.pid))
    await checkpoints_reach(out, 3)
    process.send_signal(signal.SIGINT)
    _, errors = await process.communicate()

    assert process.returncode == 130, errors.decode()
    recorded = len((out / "checkpoints.ndjson").read_bytes().splitlines())
    # Units in flight are cancelled on their workers, not left to commit:
    # left going, about 32 (a bucket's units at once) committed unrecorded.
    # A few still do, finished in the moment the cancel travelled; the
    # rerun takes them again, replacing their files.
    assert len(visible_data(out)) - recorded < 16

    code, errors_again, _ = await run_cluster(cluster_config(site, out), out, watched)
    assert code == 0, errors_again
    checks = await verify(out, site.base_url)
    assert [c.stream for c in checks if not c.exact] == []
