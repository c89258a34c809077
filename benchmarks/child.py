"""The harvester as a user runs it: `harvester run -c CONFIG --out DIR`.

A child process, so that it has a core of its own beside the emulator's,
and so that its peak RSS is its own: `os.wait4` returns the child's
resource usage, whose `ru_maxrss` is its high-water mark.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from benchmarks.site import Site


@dataclass(frozen=True, slots=True)
class HarvesterRun:
    """One finished `harvester run`: its manifest and what the OS measured."""

    exit_code: int
    process_seconds: float
    cpu_seconds: float
    peak_rss_bytes: int
    manifest: dict[str, Any] = field(repr=False)

    @property
    def records(self) -> int:
        """Records the run committed."""
        return int(self.manifest["totals"]["records"])

    @property
    def cpu_share(self) -> float:
        """CPU time over the process's wall time (1.0 = one core busy)."""
        return self.cpu_seconds / self.process_seconds

    @property
    def wall_seconds(self) -> float:
        """The run's own time, from planning to the manifest (no start-up)."""
        return float(self.manifest["wall_seconds"])

    def bucket(self, path: str) -> dict[str, Any]:
        """The manifest's counters for one bucket."""
        return dict(self.manifest["buckets"][path])

    def stream_records(self, name: str) -> int:
        """Records of one stream."""
        return int(self.manifest["streams"][name]["records"])


def site_config(site: Site, run: Mapping[str, Any], **tables: Any) -> dict[str, Any]:
    """A run config for `site`; `tables` adds `streams`, `buckets` and the like."""
    return {"site": {"base_url": site.base_url}, "run": dict(run), **tables}


def toml(config: Mapping[str, Any], prefix: str = "") -> str:
    """`config` (tables of strings, numbers, booleans and lists) as TOML."""
    lines, tables = [], []
    for key, value in config.items():
        name = _key(key)
        if isinstance(value, Mapping):
            tables.append((f"{prefix}{name}", value))
        else:
            lines.append(f"{name} = {_value(value)}")
    text = "\n".join(lines) + "\n" if lines else ""
    for name, table in tables:
        text += f"\n[{name}]\n" + toml(table, f"{name}.")
    return text


def _key(key: str) -> str:
    bare = key.replace("_", "").replace("-", "").isalnum() and key.isascii()
    return key if bare else orjson.dumps(key).decode()


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, str):
        return orjson.dumps(value).decode()
    return repr(value)


async def run_harvester(
    site: Site, config: Mapping[str, Any], out: Path
) -> HarvesterRun:
    """Run the harvester on `config` into `out` and wait for it to finish.

    Raises:
        RuntimeError: the run wrote no manifest.
    """
    path = out.with_name(out.name + ".toml")
    log = out.with_name(out.name + ".log")
    await asyncio.to_thread(path.write_text, toml(config))
    command = [*_harvester(), "run", "-c", str(path), "--out", str(out)]
    process = await run_process(command, site.env, log)
    manifest = out / "manifest.json"
    if not await asyncio.to_thread(manifest.exists):
        code = process.exit_code
        raise RuntimeError(f"harvester exited {code} without a manifest; see {log}")
    data = orjson.loads(await asyncio.to_thread(manifest.read_bytes))
    return HarvesterRun(
        process.exit_code,
        process.seconds,
        process.cpu_seconds,
        process.peak_rss_bytes,
        data,
    )


@dataclass(frozen=True, slots=True)
class Process:
    """A finished child process, as the OS measured it."""

    exit_code: int
    seconds: float
    cpu_seconds: float
    peak_rss_bytes: int


async def run_process(
    command: list[str], env: dict[str, str], log: Path, cwd: Path | None = None
) -> Process:
    """Run `command` to its end, its output to `log`; measure it with wait4."""
    return await asyncio.to_thread(_wait, command, env, log, cwd)


def _harvester() -> list[str]:
    script = Path(sys.executable).with_name("harvester")
    return [str(script)] if script.exists() else [sys.executable, "-m", "harvester"]


def _wait(
    command: list[str], env: dict[str, str], log: Path, cwd: Path | None
) -> Process:
    with open(log, "wb") as sink:
        started = time.perf_counter()
        child = subprocess.Popen(command, env=env, stdout=sink, stderr=sink, cwd=cwd)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
    # wait4 reaped the child; tell Popen so it does not wait again.
    child.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    return Process(child.returncode, seconds, cpu, usage.ru_maxrss * 1024)
