"""The open-loop load generator: requests leave on a fixed schedule.

A bucket's requests are spaced evenly at its rate, its streams taking
turns, and each request leaves at its slot whether or not earlier answers
are back: a slow answer never delays the next request, so the site gets
the asked rate and cannot hide a stall by slowing the load down (no
coordinated omission). How late each request really left is measured and
reported beside the latencies, which count from the slot (or from when
the request left, if it left early: asyncio timers fire on millisecond
ticks, so a request may leave up to half a tick before its slot).

Unless the run may go over the limit, a request is also held while
sending it would put more than the bucket's limit into one sliding window
of send times, so a generator that fell behind cannot catch up in a burst
past the limit. The harvester's own bucket is not used: it would hold
requests back by its own pacing, and the point is to measure the site.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import aiohttp
from hdrh.histogram import HdrHistogram
from yarl import URL

from harvester.bench.measure import StreamMeasure, classify, histogram
from harvester.bench.probes import Probe
from harvester.bench.rates import BucketLoad

BINS = 100
HALF_TICK_S = 0.0005
MIN_BIN_S = 0.05


@dataclass(slots=True)
class BucketRun:
    """What the generator did for one bucket: requests and when they left."""

    load: BucketLoad
    count: int
    sent: int = 0
    last_left_s: float = 0.0
    held_s: float = 0.0

    @property
    def span_s(self) -> float:
        """The time the schedule takes: `count` slots of 1 / rate each."""
        return self.count / self.load.rate

    @property
    def send_rate(self) -> float:
        """Requests that left per second, over the schedule or longer if late."""
        span = max(self.span_s, self.last_left_s + 1 / self.load.rate)
        return self.sent / span if span > 0 else 0.0


@dataclass(slots=True)
class StepRun:
    """Everything measured in one step, generator and streams."""

    duration_s: float
    started_at: float
    buckets: list[BucketRun]
    streams: dict[str, StreamMeasure]
    lag: HdrHistogram = field(default_factory=histogram)
    cpu_share: float = 0.0
    wall_s: float = 0.0
    max_in_flight: int = 0
    connections: int = 0


class WindowGuard:
    """Keeps one bucket's sends within its limit in every sliding window."""

    def __init__(self, run: BucketRun) -> None:
        self._run = run
        self._sends: deque[float] = deque(maxlen=run.load.limit)
        # One admission at a time: two waiters for the same freed place
        # would otherwise both take it.
        self._lock = asyncio.Lock()

    async def admit(self) -> None:
        """Wait until one more send stays within the limit, and count it."""
        loop = asyncio.get_running_loop()
        async with self._lock:
            if len(self._sends) == self._sends.maxlen:
                wait = self._sends[0] + self._run.load.period - loop.time()
                if wait > 0:
                    self._run.held_s += wait
                    await asyncio.sleep(wait)
            self._sends.append(loop.time())


class Generator:
    """Sends probes on an open-loop schedule and measures every answer."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        headers: Mapping[str, str],
        *,
        connections: int,
        timeout_s: float,
        over_limit: bool,
    ) -> None:
        self._session = session
        self._headers = dict(headers)
        self._connections = connections
        self._timeout_s = timeout_s
        self._over_limit = over_limit
        self._urls: dict[int, URL] = {}
        self._in_flight = 0
        self._max_in_flight = 0
        # Requests wait for a connection here rather than inside aiohttp,
        # so the limit check below sees when each one really leaves.
        self._slots = asyncio.Semaphore(connections)
        self._start = 0.0

    async def run(
        self,
        loads: Sequence[BucketLoad],
        probes: Mapping[str, list[Probe]],
        duration_s: float,
    ) -> StepRun:
        """Drive every load for `duration_s`, then wait for every answer."""
        bin_s = max(MIN_BIN_S, duration_s / BINS)
        measures = {
            stream.name: StreamMeasure(stream.name, load.bucket, bin_s)
            for load in loads
            for stream in load.streams
        }
        runs = [
            BucketRun(load, max(1, math.ceil(duration_s * load.rate - 1e-9)))
            for load in loads
        ]
        self._max_in_flight = 0
        loop = asyncio.get_running_loop()
        started_at, cpu = time.time(), time.process_time()
        start = self._start = loop.time()
        tasks: set[asyncio.Task[None]] = set()
        await asyncio.gather(
            *(self._dispatch(run, probes, measures, start, tasks) for run in runs)
        )
        if tasks:
            await asyncio.wait(tasks)
        wall = loop.time() - start
        step = StepRun(duration_s, started_at, runs, measures, wall_s=wall)
        step.cpu_share = (time.process_time() - cpu) / wall if wall else 0.0
        step.max_in_flight = self._max_in_flight
        step.connections = self._connections
        for measure in measures.values():
            step.lag.add(measure.lag)
        return step

    async def _dispatch(
        self,
        run: BucketRun,
        probes: Mapping[str, list[Probe]],
        measures: Mapping[str, StreamMeasure],
        start: float,
        tasks: set[asyncio.Task[None]],
    ) -> None:
        loop = asyncio.get_running_loop()
        load = run.load
        interval = 1 / load.rate
        guard = None if self._over_limit else WindowGuard(run)
        members = len(load.streams)
        for index in range(run.count):
            slot = start + index * interval
            delay = slot - loop.time()
            # asyncio wakes on millisecond ticks, up to a tick late: aiming
            # half a tick early centres the error on the slot. Due and
            # overdue slots go out at once, without yielding in between.
            if delay > HALF_TICK_S:
                await asyncio.sleep(delay - HALF_TICK_S)
            stream = load.streams[index % members]
            choices = probes[stream.name]
            probe = choices[(index // members) % len(choices)]
            measure = measures[stream.name]
            measure.scheduled += 1
            task = asyncio.create_task(
                self._send(probe, slot - start, measure, run, guard)
            )
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    async def _send(
        self,
        probe: Probe,
        slot: float,
        measure: StreamMeasure,
        run: BucketRun,
        guard: WindowGuard | None,
    ) -> None:
        # Times are seconds since the step started.
        async with self._slots:
            if guard is not None:
                await guard.admit()
            left = self._now()
            measure.left(slot, left)
            run.sent += 1
            run.last_left_s = max(run.last_left_s, left)
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            try:
                status, error = await self._exchange(probe), None
            except TimeoutError:
                status, error = None, "timeout"
            except aiohttp.ClientError:
                status, error = None, "connection"
            finally:
                self._in_flight -= 1
        outcome = classify(status, error)
        measure.answered(min(slot, left), self._now(), outcome)

    async def _exchange(self, probe: Probe) -> int:
        async with asyncio.timeout(self._timeout_s):
            async with self._session.request(
                probe.method,
                self._url(probe),
                data=probe.body,
                headers=self._headers,
                allow_redirects=False,
            ) as response:
                await response.read()
                return response.status

    def _now(self) -> float:
        return asyncio.get_running_loop().time() - self._start

    def _url(self, probe: Probe) -> URL:
        # Built once per probe: encoding the query anew costs CPU per request.
        url = self._urls.get(id(probe))
        if url is None:
            url = self._urls[id(probe)] = URL(probe.url).with_query(probe.query)
        return url
