"""The peer: dlt's `rest_api` source harvesting `host_metrics` over hosts.

Run by `benchmarks.peer_dlt` as a child process, the way a user would set
dlt up for this site: `host_details` (one hour, one record per host) feeds
`host_metrics` by `HOST_ID`, both offset-paged, with the IAM token and the
app code as static headers, loaded as JSON lines into the filesystem
destination. Prints one JSON line: records, seconds and dlt's version.

Everything comes from the environment: `BENCH_BASE_URL`, `BENCH_TOKEN`,
`BENCH_APP_CODE`, `BENCH_SINCE`, `BENCH_UNTIL`, `BENCH_OUT`, and
`BENCH_PARALLEL` (`1` runs the child resource on dlt's thread pool).
dlt's telemetry is switched off by the parent.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import dlt
import orjson
from dlt.sources.rest_api import rest_api_source

from benchmarks.site import DETAILS_PATH, METRICS_PATH

HOUR_MS = 3_600_000


def source_config(env: dict[str, str]) -> dict[str, Any]:
    """The `rest_api` configuration for the site named in `env`."""
    app_code = env["BENCH_APP_CODE"]
    since, until = int(env["BENCH_SINCE"]), int(env["BENCH_UNTIL"])
    headers = {
        "X-Auth-Token": env["BENCH_TOKEN"],
        "X-APIG-Appcode": app_code,
        "x-hcso-appcode": app_code,
    }
    return {
        "client": {"base_url": env["BENCH_BASE_URL"], "headers": headers},
        "resources": [
            {
                "name": "host_details",
                "selected": False,
                "endpoint": {
                    "path": DETAILS_PATH,
                    "params": {"begin_time": since, "end_time": since + HOUR_MS},
                    "data_selector": "list",
                    "paginator": _offset(500),
                },
            },
            {
                "name": "host_metrics",
                "parallelized": env.get("BENCH_PARALLEL") == "1",
                "endpoint": {
                    "path": METRICS_PATH,
                    "params": {
                        "host_id": "{resources.host_details.HOST_ID}",
                        "begin_time": since,
                        "end_time": until,
                    },
                    "data_selector": "list",
                    "paginator": _offset(1000),
                },
            },
        ],
    }


def _offset(limit: int) -> dict[str, Any]:
    return {
        "type": "offset",
        "limit": limit,
        "offset_param": "offset_value",
        "limit_param": "page_size",
        "total_path": "total",
    }


def main() -> None:
    """Run the pipeline once and print its figures."""
    env = dict(os.environ)
    out = env["BENCH_OUT"]
    pipeline = dlt.pipeline(
        pipeline_name="esm_bench",
        pipelines_dir=os.path.join(out, "pipelines"),
        destination=dlt.destinations.filesystem(bucket_url="file://" + out + "/data"),
        dataset_name="esm",
    )
    started = time.perf_counter()
    pipeline.run(rest_api_source(source_config(env)), loader_file_format="jsonl")
    seconds = time.perf_counter() - started
    trace = pipeline.last_trace
    rows = trace.last_normalize_info.row_counts if trace else {}
    figures = {
        "records": int(rows.get("host_metrics", 0)),
        "seconds": seconds,
        "dlt_version": dlt.__version__,
    }
    sys.stdout.buffer.write(orjson.dumps(figures) + b"\n")


if __name__ == "__main__":
    main()
