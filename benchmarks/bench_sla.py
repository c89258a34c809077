"""`make bench-sla`: benchmark the emulator against the SLA, check the report.

Runs the load benchmark against the built-in emulator with the
`within-sla` latency model (every documented bucket well inside its SLA)
on one tier-1 stream (at 1000/s), two tier-2 streams and the SDR stream,
whose SLA the reference leaves undocumented (these at their documented
limit). Prints
the verdict table, writes `report.json` and `report.html`, then opens the
HTML in headless Chromium and checks that every chart was drawn, saving
a screenshot beside it.

Run: `make bench-sla` or `python -m benchmarks.bench_sla [--out DIR]`.
Exit status: 0 when the reports were written and render, whatever the
verdict (which is printed, and is 1 from `harvester bench` itself when
an item fails); non-zero when the benchmark could not run or the report
does not render.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import orjson

from harvester.bench import cli

STREAMS = ("elbv3", "audit_logs", "device_assets", "sdr")
# On a 2-core machine shared by the generator and the emulator, a tier-1
# bucket at its full 4000/s leaves no room for either to absorb a pause:
# the tier-1 stream runs at a quarter of its limit, so its throughput is
# reported as untested, while the tier-2 buckets run at their full limit.
MAX_RATE = "1000"
BROWSER_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
BROWSER_TIMEOUT_S = 120


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out/bench-sla"))
    parser.add_argument("--duration", default="10")
    given = parser.parse_args()
    bench = argparse.ArgumentParser(prog="harvester bench")
    cli.add_arguments(bench)
    args = bench.parse_args(
        ["-c", "configs/demo.toml", "--streams", *STREAMS, "--duration",
         given.duration, "--page-size", "10", "--max-rate", MAX_RATE,
         "--out", str(given.out),
         "--emulator-latency", "within-sla"]
    )  # fmt: skip
    status = cli.main(args)
    if status not in (0, 1) or not (given.out / "report.html").exists():
        return status or 1
    if status:
        # The verdict is this machine's as much as the emulator's: a tier-1
        # TP99.9 of 5 ms is near the noise floor of a busy 2-core machine.
        print("bench-sla: an SLA item failed (see the generator's warnings)")
    return 0 if check_rendering(given.out) else 1


def expected_charts(report: Path) -> int:
    """Charts the report must hold: one per bucket and two per stream, per step."""
    doc = orjson.loads(report.read_bytes())
    return sum(len(s["buckets"]) + 2 * len(s["streams"]) for s in doc["steps"])


def check_rendering(out: Path) -> bool:
    """Whether headless Chromium draws every chart of `out`/report.html."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        print("bench-sla: chromium is not installed; the report was not checked")
        return False
    page = (out / "report.html").resolve().as_uri()
    with tempfile.TemporaryDirectory() as profile:
        flags = [browser, *BROWSER_FLAGS, f"--user-data-dir={profile}"]
        dom = subprocess.run(
            [*flags, "--dump-dom", page],
            capture_output=True,
            text=True,
            timeout=BROWSER_TIMEOUT_S,
            check=False,
        ).stdout
    with tempfile.TemporaryDirectory() as profile:
        flags = [browser, *BROWSER_FLAGS, f"--user-data-dir={profile}"]
        subprocess.run(
            [*flags, f"--screenshot={(out / 'report.png').resolve()}",
             "--window-size=1280,2000", page],
            capture_output=True, timeout=BROWSER_TIMEOUT_S, check=False,
        )  # fmt: skip
    charts = len(re.findall(r'<svg class="chart"', dom))
    lines = len(re.findall(r'<path d="M', dom))
    wanted = expected_charts(out / "report.json")
    print(
        f"bench-sla: Chromium drew {charts} of {wanted} charts "
        f"({lines} data lines); screenshot {out / 'report.png'}"
    )
    return charts == wanted and lines >= wanted


if __name__ == "__main__":
    sys.exit(main())
