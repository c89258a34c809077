"""The driver's side of a cluster run: workers as Ray actors.

The engine runs on the driver as it does locally and hands each unit to
the least busy worker. A worker that dies takes its units in flight with
it; each is handed to another worker and, since units are written
atomically under their final names, a redone unit replaces whatever the
dead one left, never doubles it. Workers' counters come back with every
unit and are gathered every second, so progress, metrics and the
manifest see the whole cluster. Two things are not gathered: request
latencies stay in each worker, so `--metrics-port` shows no latency
histogram for a cluster run, and a worker that dies takes with it the
counts of the units it had in flight, so the manifest may show fewer
requests than the site saw.

This module imports Ray; `harvester.cluster` imports it only once the
environment Ray reads at import time is set.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import anyio
import ray
from anyio import get_cancelled_exc_class
from ray.actor import ActorHandle
from ray.exceptions import RayActorError

from harvester.cluster.worker import Failed, HarvestWorker, Reply, Tallies
from harvester.errors import ConfigError, SiteError, UnitError
from harvester.executor import Done, Found, Task, UnitWork
from harvester.limits import BucketCounters, Buckets

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
REACH_S = 5.0
# The discard service's port, closed on a machine that does not offer it.
DISCARD_PORT = 9
PROXY_VARIABLES = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")
NO_PROXY_VARIABLES = ("no_proxy", "NO_PROXY")
LOOPBACK_HOSTS = "127.0.0.1,localhost,::1"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
START_TIMEOUT_S = 120.0
TALLY_EVERY_S = 1.0
# How many workers may die under one unit before the unit is failed: a
# unit that kills every worker it meets must not take the cluster down.
LOSSES_PER_UNIT = 3


class WorkersLostError(SiteError):
    """Raised when no worker is left to run units."""


@contextmanager
def connected(address: str, workers: int) -> Iterator[None]:
    """Connect to the Ray cluster at `address`, or start one on loopback.

    Raises:
        ConfigError: the cluster at `address` cannot be joined.
    """
    # Workers' output would reach the driver's standard streams with a
    # prefix on every line, breaking JSON logs; their failures come back
    # with their units instead, and their logs stay in Ray's session.
    options: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False}
    if address:
        _check_reachable(address)
        options["address"] = address
    else:
        # "local", not nothing: Ray would otherwise join a cluster named in
        # RAY_ADDRESS or left running on this machine. Only loopback: it
        # would otherwise listen on every interface.
        options.update(
            address="local",
            _node_ip_address=LOOPBACK,
            include_dashboard=False,
            num_cpus=max(workers, os.cpu_count() or 1),
        )
    # Ray puts handlers of its own on SIGINT and SIGTERM that exit at once;
    # the run's are put back, so a signal still stops it cleanly. One that
    # arrives during ray.init itself is Ray's: SIGINT is lost, SIGTERM
    # exits 15 with no manifest update.
    handlers = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    try:
        with _no_way_out(started=not address):
            ray.init(**options)
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise ConfigError("executor.address", f"cannot join Ray: {error}") from error
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    try:
        yield
    finally:
        ray.shutdown()


@contextmanager
def _no_way_out(*, started: bool) -> Iterator[None]:
    """Keep the daemons of a cluster started here from reaching off the host.

    Ray's dashboard process, which it starts even without a dashboard,
    looks for cloud metadata services over HTTP (169.254.169.254,
    metadata.google.internal) whatever its usage-report setting. Its HTTP
    goes through `requests`, which honours the proxy variables: pointed at
    a closed loopback port, every such request fails at once on this
    machine. Loopback itself, where the cluster talks to itself, is
    exempt. The daemons keep the variables they start with; this process
    gets its own back.
    """
    if not started:
        yield
        return
    closed = f"http://{LOOPBACK}:{DISCARD_PORT}"
    names = {name: closed for name in PROXY_VARIABLES}
    names |= {name: LOOPBACK_HOSTS for name in NO_PROXY_VARIABLES}
    with mock.patch.dict(os.environ, names):
        yield


def _check_reachable(address: str) -> None:
    # Ray retries an unreachable cluster for ever, deaf to signals. This
    # catches a closed port only: a port that answers but is not Ray still
    # leaves ray.init retrying until the process is killed.
    parts = urlsplit(address if "://" in address else f"//{address}")
    if parts.scheme or not parts.hostname or not parts.port:
        return
    try:
        socket.create_connection((parts.hostname, parts.port), REACH_S).close()
    except OSError as error:
        raise ConfigError(
            "executor.address", f"cannot reach Ray at {address}: {error}"
        ) from error


class RayExecutor:
    """Runs units on Ray workers; the driver keeps the report and checkpoints.

    `spawn` creates one worker actor. With `replace`, a worker that dies is
    replaced: only safe when the budget is shared through Redis, since a
    split budget's share cannot be handed on while the dead worker's last
    requests may still count at the site.
    """

    def __init__(
        self,
        spawn: Callable[[], ActorHandle],
        workers: int,
        buckets: Buckets,
        *,
        replace: bool,
    ) -> None:
        self._spawn = spawn
        self._workers = workers
        self._buckets = buckets
        self._replace = replace
        self._busy: dict[ActorHandle, int] = {}
        self._tallies: dict[ActorHandle, Tallies] = {}
        self.tokens_issued = 0

    async def start(self) -> None:
        """Start every worker and wait until each is ready.

        Raises:
            ConfigError: the cluster cannot place them in time.
        """
        async with anyio.create_task_group() as group:
            for _ in range(self._workers):
                group.start_soon(self._add)

    async def harvest(self, task: Task, found: Found, done: Done) -> None:
        work = await self._call("harvest", task)
        assert isinstance(work, UnitWork)
        found(set(work.partitions))
        with anyio.CancelScope(shield=True):
            await done(work)

    async def discover(self, task: Task, found: Found) -> None:
        named = await self._call("discover", task)
        assert isinstance(named, set)
        found(named)

    async def keep_tallies(self) -> None:
        """Gather the workers' counters every second, for as long as it runs."""
        while True:
            await anyio.sleep(TALLY_EVERY_S)
            await self._gather_tallies()

    async def close(self) -> None:
        """Take the last counters, then close and end every worker."""
        await self._gather_tallies()
        for worker in list(self._busy):
            try:
                await worker.close.remote()
            except RayActorError:
                log.warning("a worker died before it could close")
            ray.kill(worker)
        self._busy.clear()

    async def _call(self, method: str, task: Task) -> Any:
        for _ in range(LOSSES_PER_UNIT + 1):
            worker = self._least_busy()
            self._busy[worker] += 1
            ref = getattr(worker, method).remote(task)
            try:
                reply: Reply = await ref
            except RayActorError as error:
                await self._lose(worker, task, error)
                continue
            except get_cancelled_exc_class():
                # A run being stopped abandons its units; one left going
                # would commit data no checkpoint records.
                ray.cancel(ref)
                raise
            finally:
                if worker in self._busy:
                    self._busy[worker] -= 1
            self._tallies[worker] = reply.tallies
            self._count()
            if isinstance(reply.outcome, Failed):
                raise reply.outcome.error
            return reply.outcome
        raise UnitError(task.unit.key, f"{LOSSES_PER_UNIT + 1} workers died under it")

    def _least_busy(self) -> ActorHandle:
        if not self._busy:
            raise WorkersLostError("every worker died; rerun the command to resume")
        return min(self._busy, key=self._busy.__getitem__)

    async def _lose(self, worker: ActorHandle, task: Task, error: Exception) -> None:
        if worker not in self._busy:
            return
        del self._busy[worker]
        log.warning(
            "a worker died running %s (%s); its units go to the others",
            task.unit.key,
            type(error).__name__,
        )
        if self._replace:
            await self._add()

    async def _add(self) -> None:
        worker = self._spawn()
        try:
            with anyio.fail_after(START_TIMEOUT_S):
                started = await worker.start.remote()
        except TimeoutError as error:
            ray.kill(worker)
            raise ConfigError(
                "executor.workers",
                f"the cluster did not start a worker in {START_TIMEOUT_S:g} s",
            ) from error
        if isinstance(started, Failed):
            ray.kill(worker)
            raise started.error
        self._busy[worker] = 0

    async def _gather_tallies(self) -> None:
        for worker in list(self._busy):
            try:
                self._tallies[worker] = await worker.tallies.remote()
            except RayActorError:
                continue
        self._count()

    def _count(self) -> None:
        totals: dict[str, BucketCounters] = {}
        for tallies in self._tallies.values():
            for path, counted in tallies.buckets.items():
                bucket = self._buckets.get(path, counted["limit"], counted["period"])
                total = totals.setdefault(path, BucketCounters())
                for name in ("requests", "retries", "throttled", "failures"):
                    setattr(total, name, getattr(total, name) + counted[name])
                bucket.counters = total
        self.tokens_issued = sum(t.tokens_issued for t in self._tallies.values())


def actor_factory(*args: Any, **kwargs: Any) -> Callable[[], ActorHandle]:
    """A function that starts one worker actor built from these arguments."""
    remote = ray.remote(HarvestWorker).options(num_cpus=1, max_restarts=0)
    return lambda: remote.remote(*args, **kwargs)
