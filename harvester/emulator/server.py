"""The emulator's aiohttp application and its lifecycle.

`running_emulator(settings)` is the usual entry: it binds a free loopback
port, yields a handle with the base URL, and shuts the server down after.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import web

from harvester.emulator import admin
from harvester.emulator.gateway import Gateway
from harvester.emulator.settings import EmulatorSettings

logger = logging.getLogger(__name__)

GATEWAY = web.AppKey("gateway", Gateway)
# Clients send IAM tokens of several KB; leave room for bigger ones.
MAX_HEADER_FIELD = 65536


def build_app(settings: EmulatorSettings) -> web.Application:
    """The emulated site as an aiohttp application."""
    gateway = Gateway(settings)
    app = web.Application()
    app[GATEWAY] = gateway
    admin.add_routes(app, settings, gateway)
    # Everything else goes to the gateway, which routes by the catalog.
    app.router.add_route("*", "/{tail:.*}", gateway.handle)
    return app


@dataclass(slots=True)
class RunningEmulator:
    """A started emulator: where it listens, and how to stop it."""

    base_url: str
    app: web.Application
    runner: web.AppRunner

    @property
    def gateway(self) -> Gateway:
        """The gateway serving this emulator (tokens, buckets, counters)."""
        return self.app[GATEWAY]

    async def close(self) -> None:
        """Stop serving and release the port."""
        await self.runner.cleanup()


async def start_emulator(
    settings: EmulatorSettings, host: str = "127.0.0.1", port: int = 0
) -> RunningEmulator:
    """Start serving `settings` on `host`:`port` (0 picks a free port)."""
    app = build_app(settings)
    runner = web.AppRunner(app, access_log=None, max_field_size=MAX_HEADER_FIELD)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise

    bound_host, bound_port = runner.addresses[0][:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    base_url = f"http://{shown}:{bound_port}"
    logger.info(
        "emulator listening on %s (seed %d, scale %s, faults %s)",
        base_url,
        settings.seed,
        settings.scale,
        settings.faults,
    )
    return RunningEmulator(base_url, app, runner)


@asynccontextmanager
async def running_emulator(
    settings: EmulatorSettings, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[RunningEmulator]:
    """Run an emulator for the length of a `with` block."""
    emulator = await start_emulator(settings, host, port)
    try:
        yield emulator
    finally:
        await emulator.close()
