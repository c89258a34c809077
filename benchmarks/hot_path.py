"""Page to NDJSON lines: raw slices against parse-and-re-encode.

Both sides turn the same pages of 1000 host-metric records into NDJSON
bytes in memory, so the figure is the CPU cost per record of the two ways
of moving records, with no network or disk in the way.

Run: `make bench` or `python -m benchmarks.hot_path`.
"""

from __future__ import annotations

import time

import orjson

from harvester.pages import decode

PAGES = 200
RECORDS = 1000


def make_page(index: int) -> bytes:
    records = [
        {
            "time_stamp": str(1_700_000_000_000 + i * 60_000),
            "monitor_item": "memory",
            "region_id": "cn-north-7",
            "metrics_name": "Memory",
            "operator": "AVG",
            "host_id": f"00700188-9859-4418-8889-{index:012d}",
            "unit": "%",
            "data_item": "usage",
            "value": f"{(i * 7919) % 10000 / 100:.2f}",
        }
        for i in range(RECORDS)
    ]
    return orjson.dumps({"total": PAGES * RECORDS, "list": records})


def raw_slices(pages: list[bytes]) -> int:
    written = 0
    for body in pages:
        page = decode("host_metrics", body)
        written += len(b"\n".join(page.records) + b"\n")
    return written


def reencode(pages: list[bytes]) -> int:
    written = 0
    for body in pages:
        records = orjson.loads(body)["list"]
        written += len(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return written


def measure(name: str, work: object, pages: list[bytes]) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        work(pages)  # type: ignore[operator]
        best = min(best, time.perf_counter() - started)
    rate = PAGES * RECORDS / best
    print(f"{name:<28} {rate:>12,.0f} records/s")
    return rate


def main() -> dict[str, float]:
    pages = [make_page(i) for i in range(PAGES)]
    raw = measure("raw slices (msgspec)", raw_slices, pages)
    parsed = measure("parse + re-encode (orjson)", reencode, pages)
    print(f"{'ratio raw / re-encode':<28} {raw / parsed:>12.2f}")
    return {"raw_records_per_s": raw, "reencode_records_per_s": parsed}


if __name__ == "__main__":
    main()
