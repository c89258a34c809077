"""Where the harvester's time goes on big pages: py-spy's samples, summed.

Runs the big-pages benchmark's harvester (one day of `host_metrics`,
1000 records a page, from a warm emulator) under `py-spy record --idle`
and keeps the main thread's samples: the event loop's thread, where
every page is read, decoded, hashed and written. Shares are of that
thread's wall time, waiting included (`select` is the loop with nothing
to do); work done without the GIL (hashing, writing) counts too, which
`--gil` would hide. Writes `out/bench/profile.svg` (a flame graph of all
threads, from a second run) and `out/bench/profile.txt` (collapsed
stacks), and prints the functions with the largest own and inclusive
shares.

Run: `make bench-profile` or `python -m benchmarks hot_profile`. Needs
py-spy (`pip install -e '.[bench]'`) and the right to ptrace a child.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks import big_pages, loops, show
from benchmarks.child import run_process, toml
from benchmarks.site import (
    DETAILS_PATH,
    METRICS_PATH,
    Site,
    emulator,
    past_day,
    unlimited,
)

OUT = Path("out/bench")
RATE_HZ = 250
TOP = 15
_FRAME = re.compile(r"(?P<function>.*) \((?P<path>[^:()]*)(:\d+)?\)$")


async def main() -> dict[str, Any]:
    """Profile one harvest; print and return the top functions."""
    show.title("profile of the harvester on big pages (py-spy, main thread)")
    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():
        show.line("py-spy", "not installed: pip install -e '.[bench]'")
        return {"py-spy": "not installed"}
    await asyncio.to_thread(OUT.mkdir, parents=True, exist_ok=True)
    day = past_day(2)
    async with emulator("large", unlimited(METRICS_PATH, DETAILS_PATH)) as site:
        async with loops.session(4) as http:
            await big_pages.warm(site, http, day)
        config = OUT / "profile.toml"
        text = toml(big_pages.harvester_config(site, day))
        await asyncio.to_thread(config.write_text, text)
        for kind, target in (("raw", "profile.txt"), ("flamegraph", "profile.svg")):
            await _record(spy, site, config, kind, OUT / target)
    stacks = await asyncio.to_thread((OUT / "profile.txt").read_text)
    return _report(stacks)


async def _record(spy: Path, site: Site, config: Path, kind: str, target: Path) -> None:
    out = OUT / "profile-run"
    harvester = Path(sys.executable).with_name("harvester")
    command = [str(spy), "record", "--idle", "-r", str(RATE_HZ), "--format", kind]
    command += ["-o", str(target), "--", str(harvester), "-q", "run"]
    command += ["-c", str(config), "--out", str(out)]
    process = await run_process(command, site.env, OUT / f"profile-{kind}.log")
    await asyncio.to_thread(_remove, out)
    if process.exit_code != 0:
        raise RuntimeError(f"py-spy exited {process.exit_code}; see its log in {OUT}")


def _remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def summarize(stacks: str) -> tuple[int, Counter[str], Counter[str]]:
    """The main thread's samples, and each function's own and inclusive counts."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in stacks.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        frames = [_name(frame) for frame in stack.split(";")]
        # Worker threads (commits, checkpoints) start in threading.
        if frames[0].startswith("Thread._bootstrap "):
            continue
        total += samples
        own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    return total, own, inclusive


# Frames are shown relative to the checkout, wherever it lies.
REPOSITORY = str(Path(__file__).resolve().parents[1])


def _name(frame: str) -> str:
    found = _FRAME.match(frame)
    if found is None:
        return frame
    path = found["path"]
    for marker in ("site-packages/", f"{REPOSITORY}/", "lib/python3.11/"):
        path = path.rsplit(marker, 1)[-1]
    return f"{found['function']} ({path})"


def _report(stacks: str) -> dict[str, Any]:
    total, own, inclusive = summarize(stacks)
    show.line("samples", total)
    print("  own share (the function's own code):")
    for name, samples in own.most_common(TOP):
        show.line(f"  {name}"[: show.WIDTH], samples / total * 100, "%")
    print("  inclusive share, harvester functions:")
    ours = [(n, s) for n, s in inclusive.most_common() if "harvester/" in n]
    for name, samples in ours[:TOP]:
        show.line(f"  {name}"[: show.WIDTH], samples / total * 100, "%")
    return {
        "samples": total,
        "own": {n: round(s / total, 4) for n, s in own.most_common(TOP)},
        "inclusive": {n: round(s / total, 4) for n, s in ours[:TOP]},
    }
