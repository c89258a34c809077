"""The emulated site a benchmark measures against, in its own process.

The emulator is started as `harvester emulate` on 127.0.0.1, port 0, so
it has a core of its own, exactly as the embedded site of `harvester run`
does. Throwaway credentials reach it through its environment.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiohttp
import orjson

from harvester import catalog

DAY_MS = 86_400_000
START_TIMEOUT_S = 60.0
PROJECT = "bench-project"
METRICS_PATH = catalog.HOST_METRICS.path
DETAILS_PATH = catalog.HOST_DETAILS.path


@dataclass(frozen=True, slots=True)
class Site:
    """A running emulator: where it listens and the secrets it accepts."""

    base_url: str
    password: str = field(repr=False)
    app_code: str = field(repr=False)
    pid: int

    @property
    def env(self) -> dict[str, str]:
        """An environment for a harvester child that holds the secrets."""
        return {
            **os.environ,
            "ESM_PASSWORD": self.password,
            "ESM_APP_CODE": self.app_code,
        }

    async def token(self, session: aiohttp.ClientSession) -> str:
        """A fresh IAM token."""
        user = {"name": "bench", "password": self.password, "domain": {"name": "d"}}
        body = {
            "auth": {
                "identity": {"methods": ["password"], "password": {"user": user}},
                "scope": {"project": {"name": PROJECT}},
            }
        }
        url = self.base_url + catalog.IAM_TOKEN.path
        async with session.post(url, json=body) as response:
            response.raise_for_status()
            return response.headers["X-Subject-Token"]

    def headers(self, token: str) -> dict[str, str]:
        """The headers every data call carries."""
        return {
            "X-Auth-Token": token,
            "X-APIG-Appcode": self.app_code,
            "x-hcso-appcode": self.app_code,
        }

    async def stats(self, session: aiohttp.ClientSession) -> dict[str, dict]:
        """Every bucket's counters, read from the unthrottled admin route."""
        async with session.get(self.base_url + "/_emulator/stats") as response:
            return orjson.loads(await response.read())["buckets"]

    async def host_ids(self, session: aiohttp.ClientSession, day: int) -> list[str]:
        """The hosts `host_details` lists in the first hour of `day`."""
        params = {
            "stream": "host_details",
            "begin_time": day,
            "end_time": day + 3_600_000,
        }
        async with session.get(self.base_url + "/_emulator/truth", params=params) as r:
            lines = (await r.read()).splitlines()
        return list(dict.fromkeys(orjson.loads(line)["HOST_ID"] for line in lines))


def past_day(days_ago: int = 1) -> int:
    """Epoch ms of the UTC midnight `days_ago` days before today's."""
    return (int(time.time() * 1000) // DAY_MS - days_ago) * DAY_MS


@asynccontextmanager
async def emulator(
    scale: str = "large", limits: Mapping[str, tuple[int, float]] | None = None
) -> AsyncIterator[Site]:
    """Run `harvester emulate` for the length of a `with` block."""
    password, app_code = secrets.token_urlsafe(18), secrets.token_urlsafe(12)
    command = [sys.executable, "-m", "harvester", "emulate", "--host", "127.0.0.1"]
    command += ["--port", "0", "--seed", "7", "--scale", scale]
    for path, (limit, period) in (limits or {}).items():
        command += ["--limit", f"{path}={limit}/{period:g}"]
    env = {**os.environ, "ESM_PASSWORD": password, "ESM_APP_CODE": app_code}
    log = tempfile.NamedTemporaryFile(prefix="bench-emulator-", suffix=".log")
    process = await asyncio.create_subprocess_exec(
        *command, stdout=subprocess.PIPE, stderr=log, env=env
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT_S)
        if not line:
            raise RuntimeError("the emulator exited before printing its URL")
        yield Site(line.decode().strip(), password, app_code, process.pid)
    except BaseException:
        log.seek(0)
        tail = log.read()[-2000:].decode(errors="replace")
        print(f"emulator exit code {process.returncode}, its log ends:\n{tail}")
        raise
    finally:
        log.close()
        if process.returncode is None:
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


def unlimited(*paths: str) -> dict[str, tuple[int, float]]:
    """Limits high enough that no benchmark reaches them."""
    return {path: (10_000_000, 1.0) for path in paths}
