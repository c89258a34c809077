"""Secrets never reach logs, manifests, errors or output, at any verbosity."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import pytest
from test_harvest import FAST, SECRETS

from harvester.config import Secrets
from harvester.emulator.server import running_emulator
from harvester.emulator.settings import EmulatorSettings

PROFILES = [
    "none",
    "flaky",
    "drop",
    "truncated",
    "throttle-storm",
    "shifting-total",
    "expire-tokens",
    "sdr-failure",
]
# Every token the emulator issues starts "MII" and runs for kilobytes; any
# 40 characters of one in a row would be a leak.
TOKEN = re.compile(rb"MII[-_A-Za-z0-9]{37}")


def leaks(data: bytes, secrets: Secrets) -> list[str]:
    found = [
        name
        for name, value in (
            ("password", secrets.password),
            ("app code", secrets.app_code),
        )
        if value.encode() in data
    ]
    return found + (["token"] if TOKEN.search(data) else [])


def config_file(tmp_path: Path, base_url: str) -> Path:
    buckets = "".join(
        f'[buckets."{path}"]\nlimit = {n}\nperiod = {w}\n'
        for path, (n, w) in FAST.items()
    )
    path = tmp_path / "site.toml"
    path.write_text(
        f'[site]\nbase_url = "{base_url}"\n[run]\nout = "{tmp_path / "out"}"\n'
        f'since = "-2d"\nstreams = ["host_*", "device_assets", "sdr"]\n{buckets}'
    )
    return path


async def run_cli(config: Path, secrets: Secrets) -> bytes:
    env = {
        **os.environ,
        "ESM_PASSWORD": secrets.password,
        "ESM_APP_CODE": secrets.app_code,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "harvester",
        "-vv",
        "run",
        "-c",
        str(config),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()
    return stdout + stderr


def everything_written(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize("profile", PROFILES)
async def test_no_secret_is_written_under_any_fault(
    tmp_path: Path, profile: str
) -> None:
    settings = EmulatorSettings(
        password=SECRETS.password,
        app_code=SECRETS.app_code,
        limits=FAST,
        faults=profile,
        sdr_job_seconds=0.2,
    )
    async with running_emulator(settings) as emulator:
        output = await run_cli(config_file(tmp_path, emulator.base_url), SECRETS)
    assert b"DEBUG harvester.fetch: GET" in output
    assert leaks(output, SECRETS) == []
    assert leaks(everything_written(tmp_path / "out"), SECRETS) == []


@pytest.mark.parametrize(
    "given",
    [
        Secrets("wrong-password-999", SECRETS.app_code),
        Secrets(SECRETS.password, "wrong-app-code-999"),
    ],
    ids=["wrong-password", "wrong-app-code"],
)
async def test_refused_credentials_are_not_echoed(
    tmp_path: Path, given: Secrets
) -> None:
    settings = EmulatorSettings(
        password=SECRETS.password, app_code=SECRETS.app_code, limits=FAST
    )
    async with running_emulator(settings) as emulator:
        output = await run_cli(config_file(tmp_path, emulator.base_url), given)
    assert b"authentication failed" in output
    for secrets in (given, SECRETS):
        assert leaks(output, secrets) == []
        assert leaks(everything_written(tmp_path / "out"), secrets) == []


def test_the_leak_check_can_fail() -> None:
    assert leaks(b"x" + SECRETS.password.encode(), SECRETS) == ["password"]
    assert leaks(b"MII" + b"a" * 60, SECRETS) == ["token"]
