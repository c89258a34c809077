"""`python -m benchmarks` runs every benchmark and saves the figures."""

from __future__ import annotations

import platform
import time
from pathlib import Path

import orjson

from benchmarks import hot_path

RESULTS = Path("out/bench/results.json")


def main() -> None:
    figures = {"hot_path": hot_path.main()}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": platform.platform(),
        "figures": figures,
    }
    RESULTS.write_bytes(orjson.dumps(record, option=orjson.OPT_INDENT_2))
    print(f"figures saved to {RESULTS}")


main()
