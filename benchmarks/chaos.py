"""Chaos: the demo harvest under every fault, and killed again and again.

Each scenario harvests the demo site's last day from an emulator started
here on loopback and checks the result against its ground truth. The
kill scenario SIGKILLs `harvester run` at random moments, at least ten
times, resumes it each time, and compares the final output file by file
with a clean run of the same span. Tier-2 budgets are raised to 600 a
minute on both sides so a scenario takes seconds, not minutes.

Run: `make chaos` or `python -m benchmarks.chaos [--kills N] [--seed S]`.
Exits non-zero when any scenario loses or duplicates a record.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

from harvester import catalog, manifest
from harvester.report import table
from harvester.verify import verify

PROFILES = [
    "none",
    "flaky",
    "drop",
    "truncated",
    "slow",
    "throttle-storm",
    "shifting-total",
    "expire-tokens",
    "sdr-failure",
]
FAST = {e.bucket: (600, 60.0) for e in catalog.ENDPOINTS if e.sla.limit == 60}
PASSWORD, APP_CODE = secrets.token_urlsafe(16), secrets.token_urlsafe(12)
ENV = {**os.environ, "ESM_PASSWORD": PASSWORD, "ESM_APP_CODE": APP_CODE}


@dataclass(frozen=True, slots=True)
class Outcome:
    """One scenario's figures."""

    scenario: str
    expected: int
    lost: int
    duplicated: int
    unexpected: int
    retries: int
    throttled: int
    redone: int
    note: str = ""


async def emulator(profile: str) -> tuple[asyncio.subprocess.Process, str]:
    command = [
        sys.executable,
        "-m",
        "harvester",
        "emulate",
        "--port",
        "0",
        "--faults",
        profile,
        "--sdr-job-seconds",
        "0.5",
        "--exit-with-stdin",
    ]
    for path, (limit, period) in FAST.items():
        command += ["--limit", f"{path}={limit}/{period:g}"]
    process = await asyncio.create_subprocess_exec(
        *command,
        env=ENV,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert process.stdout is not None
    base_url = (await process.stdout.readline()).decode().strip()
    return process, base_url


def write_config(base_url: str, out: Path, since: int, until: int) -> Path:
    buckets = "".join(
        f'[buckets."{path}"]\nlimit = {n}\nperiod = {w}\n'
        for path, (n, w) in FAST.items()
    )
    path = out.with_suffix(".toml")
    path.write_text(
        f'[site]\nbase_url = "{base_url}"\n[run]\nout = "{out}"\n'
        f"since = {since}\nuntil = {until}\n{buckets}"
    )
    return path


async def harvest(config: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "harvester",
        "-q",
        "run",
        "-c",
        str(config),
        env=ENV,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def checked(scenario: str, out: Path, base_url: str, note: str = "") -> Outcome:
    checks = await verify(out, base_url)
    run = manifest.load(out)
    units = [u for stream in run["streams"].values() for u in stream["units"]]
    return Outcome(
        scenario,
        sum(c.expected for c in checks),
        sum(c.lost for c in checks),
        sum(c.duplicated for c in checks),
        sum(c.unexpected for c in checks),
        run["totals"]["retries"],
        run["totals"]["throttled"],
        sum(u["attempts"] - 1 for u in units),
        note,
    )


async def fault_scenario(profile: str, work: Path, span: tuple[int, int]) -> Outcome:
    process, base_url = await emulator(profile)
    try:
        out = work / profile
        run = await harvest(write_config(base_url, out, *span))
        await run.wait()
        note = "" if run.returncode == 0 else f"exit {run.returncode}"
        return await checked(profile, out, base_url, note)
    finally:
        process.terminate()
        await process.wait()


async def kill_scenario(
    kills: int, work: Path, span: tuple[int, int], rng: random.Random
) -> tuple[Outcome, bool]:
    process, base_url = await emulator("none")
    try:
        clean = work / "clean"
        started = time.monotonic()
        await (await harvest(write_config(base_url, clean, *span))).wait()
        clean_seconds = time.monotonic() - started

        killed = work / "killed"
        config = write_config(base_url, killed, *span)
        for _ in range(kills):
            run = await harvest(config)
            await asyncio.sleep(rng.uniform(0.05, clean_seconds * 0.8))
            run.kill()
            await run.wait()
        await (await harvest(config)).wait()
        same = data_files(clean) == data_files(killed)
        note = f"{kills} kills; output {'equals' if same else 'DIFFERS FROM'} clean run"
        return await checked("sigkill-resume", killed, base_url, note), same
    finally:
        process.terminate()
        await process.wait()


def data_files(out: Path) -> dict[str, bytes]:
    """Every unit file of a run, by path relative to its output directory."""
    files = {}
    for stream in manifest.load(out)["streams"].values():
        for unit in stream["units"]:
            if unit["status"] == "ok":
                path = Path(unit["location"])
                files[str(path.relative_to(out))] = path.read_bytes()
    return files


async def main(kills: int, seed: int) -> tuple[list[Outcome], bool]:
    """Every scenario's outcome, and whether the killed run equals a clean one."""
    rng = random.Random(seed)
    until = int(time.time() * 1000)
    span = (until - 86_400_000, until)
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="chaos-") as temporary:
        work = Path(temporary)
        for profile in PROFILES:
            outcomes.append(await fault_scenario(profile, work, span))
            print(f"{profile}: done", file=sys.stderr)
        outcome, same = await kill_scenario(kills, work, span, rng)
        outcomes.append(outcome)
    return outcomes, same


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()
    results, same = asyncio.run(main(arguments.kills, arguments.seed))
    rows = [asdict(outcome) for outcome in results]
    print(table(rows))
    figures = Path("out/bench/chaos.json")
    figures.parent.mkdir(parents=True, exist_ok=True)
    figures.write_bytes(orjson.dumps(rows, option=orjson.OPT_INDENT_2))
    exact = all(o.lost == o.duplicated == o.unexpected == 0 for o in results)
    sys.exit(0 if exact and same else 1)
