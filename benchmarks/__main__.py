"""`python -m benchmarks [NAME...]` runs benchmarks and saves their figures.

With no name, every benchmark but `hot_profile` and `scale` runs (about seven
minutes; `tier2_budget` alone takes three). Figures are printed as they
come, appended to `out/bench/history.jsonl` (one line a run, to compare
runs over time) and kept in `out/bench/results.json`, which holds the
latest figures of every benchmark, each with when and where it ran.
A benchmark that fails is reported and the others still run; the exit
status is then 1. A missed goal is a figure, not a failure.
"""

from __future__ import annotations

import asyncio
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from benchmarks import (
    big_pages,
    hot_path,
    hot_profile,
    peer_dlt,
    scale,
    small_pages,
    snapshot,
    tier2_budget,
)

OUT = Path("out/bench")
RESULTS = OUT / "results.json"
HISTORY = OUT / "history.jsonl"

BENCHMARKS: dict[str, Callable[[], Any]] = {
    "hot_path": hot_path.main,
    "small_pages": lambda: asyncio.run(small_pages.main()),
    "big_pages": lambda: asyncio.run(big_pages.main()),
    "tier2_budget": lambda: asyncio.run(tier2_budget.main()),
    "snapshot": lambda: asyncio.run(snapshot.main()),
    "peer_dlt": lambda: asyncio.run(peer_dlt.main()),
    "hot_profile": lambda: asyncio.run(hot_profile.main()),
    "scale": lambda: asyncio.run(scale.main()),
}
# The profile and scale-out have targets of their own (make bench-profile,
# make bench-scale).
DEFAULT = [name for name in BENCHMARKS if name not in ("hot_profile", "scale")]


def main(argv: list[str]) -> int:
    """Run the benchmarks named in `argv` (all but the profile if none)."""
    unknown = [name for name in argv if name not in BENCHMARKS]
    if unknown:
        print(
            f"unknown benchmark(s) {', '.join(unknown)}; "
            f"choose from {', '.join(BENCHMARKS)}",
            file=sys.stderr,
        )
        return 2
    record: dict[str, Any] = {
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": _machine(),
        "commit": _commit(),
        "load_before": os.getloadavg(),
        "figures": {},
    }
    failed = False
    for name in argv or DEFAULT:
        try:
            record["figures"][name] = BENCHMARKS[name]()
        except Exception as error:  # a benchmark's failure is itself a figure
            traceback.print_exc()
            record["figures"][name] = {"error": f"{type(error).__name__}: {error}"}
            failed = True
    record["load_after"] = os.getloadavg()
    _save(record)
    print(f"\nfigures appended to {HISTORY} and kept in {RESULTS}")
    return 1 if failed else 0


def _machine() -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(
                (
                    line.split(":", 1)[1].strip()
                    for line in cpuinfo
                    if "model name" in line
                ),
                "",
            )
    except OSError:
        pass
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": model,
        "cores": os.cpu_count(),
    }


def _commit() -> str:
    try:
        found = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return ""
    return found.stdout.strip()


def _save(record: dict[str, Any]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with HISTORY.open("ab") as history:
        history.write(orjson.dumps(record) + b"\n")
    latest: dict[str, Any] = {}
    if RESULTS.exists():
        latest = orjson.loads(RESULTS.read_bytes()).get("benchmarks", {})
    run = {key: value for key, value in record.items() if key != "figures"}
    for name, figures in record["figures"].items():
        latest[name] = {**run, "figures": figures}
    summary = {"updated": record["at"], "benchmarks": latest}
    RESULTS.write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
