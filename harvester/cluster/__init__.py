"""Cluster runs: one plan's units spread over Ray workers.

With `--executor ray` the driver plans, hands units to workers (Ray async
actors, each with its own event loop, session, token and sink) and alone
writes checkpoints and the manifest from what they hand back. Workers
share each bucket's budget through Redis (`[budget] kind = "redis"`);
without it each of N workers keeps to 1/N of every bucket.

Ray reads some settings from the environment when it is imported, so it
is imported here only after they are set: usage reports are off, and a
cluster started for the run listens on loopback alone.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import anyio

from harvester import catalog
from harvester.config import RunConfig, Secrets
from harvester.errors import ConfigError, HarvestError
from harvester.limits import Buckets

if TYPE_CHECKING:
    from harvester.cluster.driver import RayExecutor


@asynccontextmanager
async def ray_executor(
    config: RunConfig,
    secrets: Secrets,
    out: Path,
    buckets: Buckets,
    *,
    run_ms: int,
    log_level: int = logging.WARNING,
    log_format: str = "text",
) -> AsyncIterator[RayExecutor]:
    """Workers on Ray, ready to take units, ended when the block is left.

    Raises:
        ConfigError: Ray cannot be started or joined, or the budget cannot
            be split over that many workers.
    """
    settings = config.executor
    if "stdout" in config.sink.split("+"):
        raise ConfigError(
            "sink.kind",
            "stdout is this process's; cluster workers write to ndjson, "
            "parquet or postgres",
        )
    if config.budget.kind == "local":
        _check_split(config, settings.workers)
    _prepare_environment(settings.address)
    try:
        from harvester.cluster import driver
    except ImportError as error:
        raise ConfigError(
            "executor.kind",
            f"ray needs {error.name}: pip install 'esm-harvester[ray]'",
        ) from error

    with driver.connected(settings.address, settings.workers):
        spawn = driver.actor_factory(
            config,
            secrets,
            str(out),
            workers=settings.workers,
            run_ms=run_ms,
            log_level=log_level,
            log_format=log_format,
        )
        executor = driver.RayExecutor(
            spawn, settings.workers, buckets, replace=config.budget.kind != "local"
        )
        try:
            with _one_error():
                await executor.start()
                async with anyio.create_task_group() as group:
                    group.start_soon(executor.keep_tallies)
                    yield executor
                    group.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await executor.close()


@contextmanager
def _one_error() -> Iterator[None]:
    # Task groups wrap what is raised in them in a group; the run's own
    # error is what the command line reports, in one line.
    try:
        yield
    except BaseExceptionGroup as group:
        # Every worker meets the same refusal (Redis down): one says it.
        errors = group.exceptions
        if all(isinstance(error, HarvestError) for error in errors):
            raise errors[0] from None
        raise


def _prepare_environment(address: str) -> None:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if not _on_loopback(address):
        return
    constants = sys.modules.get("ray._private.ray_constants")
    if constants is not None and constants.ENABLE_RAY_CLUSTER:
        raise ConfigError(
            "executor.address",
            "Ray was imported before the run could keep its own cluster on "
            "loopback; set RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 or give an address",
        )
    # Read by Ray at import: without it a local cluster binds every
    # interface and names itself by the host's address.
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    # Ray lowers its workers' priority (nice 15) to keep its own daemons
    # responsive; here the workers are the run, and at nice 15 anything
    # else on the machine halves their speed.
    os.environ.setdefault("RAY_worker_niceness", "0")


def _on_loopback(address: str) -> bool:
    """Whether the cluster is this run's own, or one on this machine's loopback.

    Ray takes 127.0.0.1 for the host's own address unless told otherwise,
    so for either it is told to keep to loopback.
    """
    if not address:
        return True
    host = urlsplit(address if "://" in address else f"//{address}").hostname
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def _check_split(config: RunConfig, workers: int) -> None:
    for endpoint in catalog.ENDPOINTS:
        limit = endpoint.sla.limit
        if endpoint.bucket in config.buckets:
            limit = config.buckets[endpoint.bucket].limit
        if limit < workers:
            raise ConfigError(
                "executor.workers",
                f"{workers} workers cannot split {endpoint.bucket}'s {limit} "
                "requests; use fewer workers or a Redis budget",
            )
