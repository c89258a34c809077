"""The open-loop generator against a small server of the test's own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from harvester import catalog
from harvester.bench.generator import BucketRun, Generator, WindowGuard
from harvester.bench.probes import Probe
from harvester.bench.rates import BucketLoad

STREAM = catalog.stream("elbv3")
SLOW_S = 0.3


@pytest.fixture
async def server() -> AsyncIterator[str]:
    calls = 0

    async def handle(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        # The first answer is slow: an open loop keeps sending meanwhile.
        if calls == 1:
            await asyncio.sleep(SLOW_S)
        return web.Response(status=200 if calls % 10 else 503, text="{}")

    app = web.Application()
    app.router.add_get("/x", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}/x"
    await runner.cleanup()


async def test_requests_keep_leaving_while_an_answer_is_slow(server: str) -> None:
    load = BucketLoad(STREAM.bucket, 4000, 1.0, 50.0, (STREAM,))
    probes = {STREAM.name: [Probe(STREAM.name, "GET", server, None, None)]}
    async with aiohttp.ClientSession() as session:
        generator = Generator(
            session, {}, connections=16, timeout_s=5, over_limit=False
        )
        step = await generator.run([load], probes, duration_s=1.0)
    measure = step.streams[STREAM.name]
    figures = measure.figures()
    assert measure.scheduled == measure.sent == measure.completed == 50
    assert (measure.ok, figures["errors"]["5xx"]) == (45, 5)
    # Measured from its slot, the slow answer is the maximum.
    assert figures["latency_ms"]["max"] >= SLOW_S * 1000
    # Others left while it was outstanding instead of queueing behind it.
    assert step.max_in_flight >= 2
    assert step.buckets[0].sent == 50


async def test_the_guard_keeps_sends_within_the_limit() -> None:
    stream = catalog.stream("audit_logs")
    run = BucketRun(BucketLoad(stream.bucket, 3, 0.2, 15.0, (stream,)), 7)
    guard = WindowGuard(run)
    loop = asyncio.get_running_loop()
    times: list[float] = []

    async def send() -> None:
        await guard.admit()
        times.append(loop.time())

    # Seven sends due at once, as after the generator fell behind.
    await asyncio.gather(*(send() for _ in range(7)))
    assert all(times[i + 3] - times[i] >= 0.2 - 1e-6 for i in range(4))
    assert run.held_s > 0
