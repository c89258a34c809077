"""The Prometheus endpoint, scraped over loopback and parsed."""

from __future__ import annotations

from types import SimpleNamespace

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from harvester import catalog, metrics
from harvester.errors import ConfigError
from harvester.estimate import BucketEstimate, Estimate
from harvester.limits import Buckets
from harvester.manifest import UnitReport

CAPACITY = catalog.SERVICE_CAPACITY.bucket
METRICS = catalog.HOST_METRICS.bucket


def run_state() -> tuple[Buckets, SimpleNamespace, Estimate]:
    buckets = Buckets()
    capacity = buckets.get(CAPACITY, 60, 60.0)
    capacity.counters.requests = 12
    capacity.counters.retries = 2
    capacity.counters.throttled = 1
    buckets.get(METRICS, 4000, 1.0).counters.requests = 30
    units = [
        UnitReport("a", "service_capacity.evs", None, None, "ok",
                   records=96, pages=1, bytes=2000),
        UnitReport("b", "service_capacity.evs", None, None, "failed"),
        UnitReport("c", "host_metrics", "h1", None, "ok",
                   records=1152, pages=2, bytes=90000),
    ]  # fmt: skip
    report = SimpleNamespace(run_id="abc123", started=1_800_000_000.0, units=units)
    planned = BucketEstimate(CAPACITY, 60, 60.0, 10, 10, 9.1, "one page")
    forecast = Estimate(0, 1, (), (planned,), 9.1, CAPACITY)
    return buckets, report, forecast


async def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain")
            text = await response.text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_scrape_reads_buckets_report_and_latency() -> None:
    buckets, report, forecast = run_state()
    async with metrics.served(0, buckets, report, forecast) as exporter:
        for seconds in (0.003, 0.004, 0.25):
            exporter.observe(CAPACITY, seconds)
        seen = await scrape(exporter.port)
        report.units.append(
            UnitReport("d", "host_metrics", "h2", None, "ok", records=8, pages=1)
        )
        buckets.get(METRICS, 4000, 1.0).counters.requests += 5
        again = await scrape(exporter.port)

    on = (("bucket", CAPACITY),)
    assert seen["harvester_requests_total", on] == 12
    assert seen["harvester_retries_total", on] == 2
    assert seen["harvester_throttled_total", on] == 1
    assert seen["harvester_bucket_limit", on] == 60
    assert seen["harvester_planned_requests", on] == 10
    evs = (("stream", "service_capacity.evs"),)
    assert seen["harvester_records_total", evs] == 96
    assert seen["harvester_bytes_total", evs] == 2000
    failed = (("status", "failed"), ("stream", "service_capacity.evs"))
    assert seen["harvester_units_total", failed] == 1
    assert seen["harvester_run_info", (("run_id", "abc123"),)] == 1
    assert seen["harvester_request_latency_seconds_count", on] == 3
    assert seen["harvester_request_latency_seconds_sum", on] == pytest.approx(0.257)
    assert seen["harvester_request_latency_seconds_bucket", (*on, ("le", "0.005"))] == 2

    metrics_stream = (("stream", "host_metrics"),)
    assert again["harvester_records_total", metrics_stream] == 1152 + 8
    assert again["harvester_requests_total", (("bucket", METRICS),)] == 35


async def test_binds_to_loopback_and_frees_the_port() -> None:
    buckets, report, _ = run_state()
    async with metrics.served(0, buckets, report) as exporter:  # type: ignore[arg-type]
        port = exporter.port
        assert exporter.host == "127.0.0.1"
        await scrape(port)
    with pytest.raises(aiohttp.ClientConnectionError):
        await scrape(port)


async def test_a_port_in_use_is_a_config_error() -> None:
    buckets, report, _ = run_state()
    async with metrics.served(0, buckets, report) as exporter:  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="cannot listen"):
            async with metrics.served(exporter.port, buckets, report):
                pass
