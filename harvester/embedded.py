"""The built-in emulator as the site, when the config names none.

The emulator runs in its own process, so that it and the harvester each
get a core, and on a free loopback port. It is given throwaway
credentials through its environment, never its command line.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from harvester.config import RunConfig, Secrets
from harvester.errors import HarvestError

log = logging.getLogger(__name__)

START_TIMEOUT_S = 30.0


@asynccontextmanager
async def embedded_site(config: RunConfig) -> AsyncIterator[tuple[RunConfig, Secrets]]:
    """Start the emulator; yield the config pointed at it and its secrets.

    Raises:
        HarvestError: the emulator did not start.
    """
    credentials = Secrets(secrets.token_urlsafe(24), secrets.token_urlsafe(16))
    env = dict(os.environ)
    env["ESM_PASSWORD"] = credentials.password
    env["ESM_APP_CODE"] = credentials.app_code
    emulator = config.emulator
    command = [
        sys.executable,
        "-m",
        "harvester",
        "emulate",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--seed",
        str(emulator.seed),
        "--scale",
        emulator.scale,
        "--faults",
        emulator.faults,
        "--exit-with-stdin",
    ]
    for path, bucket in config.buckets.items():
        command += ["--limit", f"{path}={bucket.limit}/{bucket.period:g}"]
    process = await anyio.open_process(command, env=env, stderr=None)
    try:
        base_url = await _first_line(process)
        log.info("emulator started at %s", base_url)
        site = dataclasses.replace(config.site, base_url=base_url)
        yield dataclasses.replace(config, site=site), credentials
    finally:
        process.terminate()
        with anyio.move_on_after(10, shield=True):
            await process.wait()
        if process.returncode is None:
            process.kill()


async def _first_line(process: anyio.abc.Process) -> str:
    assert process.stdout is not None
    received = b""
    with anyio.move_on_after(START_TIMEOUT_S):
        async for chunk in process.stdout:
            received += chunk
            if b"\n" in received:
                return received.split(b"\n", 1)[0].decode().strip()
    raise HarvestError(
        f"the built-in emulator did not start within {START_TIMEOUT_S:g} s"
    )
