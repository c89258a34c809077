"""Prometheus metrics of a run, served over HTTP while it goes.

Counters are read from the live objects at each scrape (a custom
collector over `Bucket.counters` and `RunReport.units`), so the engine
keeps no second set of counters. Request latency is the one figure the
engine does not keep: whoever times a request calls `Exporter.observe`.

The endpoint binds to 127.0.0.1 unless told otherwise: the figures name
the site's endpoints and the run's volume, which is nobody else's
business. It is served by aiohttp on the run's own event loop, so a
scrape reads the objects where the engine writes them.
"""

from __future__ import annotations

import ipaddress
import logging
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from harvester.errors import ConfigError
from harvester.estimate import Estimate
from harvester.limits import Bucket
from harvester.manifest import RunReport

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
PATH = "/metrics"
# From a tier-1 TP50 (2 ms) to a slow tier-2 answer and a read timeout.
LATENCY_BUCKETS = (
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0,
    10.0, 30.0, 60.0,
)  # fmt: skip
BUCKET_COUNTERS = {
    "requests": "Requests sent, retries included",
    "retries": "Requests sent again after a failed attempt",
    "throttled": "429 answers",
    "request_failures": "Requests given up after every retry",
}


class RunCollector(Collector):
    """Reads a run's buckets and report at each scrape."""

    def __init__(
        self,
        buckets: Iterable[Bucket],
        report: RunReport,
        forecast: Estimate | None = None,
    ) -> None:
        self._buckets = buckets
        self._report = report
        self._planned = forecast.requests() if forecast else {}
        self._counted = 0
        self._streams: dict[str, Counter[str]] = {}
        self._units: Counter[tuple[str, str]] = Counter()

    def describe(self) -> list[Metric]:
        """Nothing up front: the metrics exist once the run has figures."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Every run metric, as the engine's objects hold it now."""
        yield from self._bucket_metrics()
        yield from self._stream_metrics()
        info = GaugeMetricFamily(
            "harvester_run_info", "The run being harvested", labels=["run_id"]
        )
        info.add_metric([self._report.run_id], 1.0)
        yield info
        yield GaugeMetricFamily(
            "harvester_run_started_timestamp_seconds",
            "When the run started, in Unix seconds",
            value=self._report.started,
        )

    def _bucket_metrics(self) -> Iterator[Metric]:
        buckets = list(self._buckets)
        for name, doc in BUCKET_COUNTERS.items():
            family = CounterMetricFamily(f"harvester_{name}", doc, labels=["bucket"])
            field = "failures" if name == "request_failures" else name
            for bucket in buckets:
                family.add_metric([bucket.path], getattr(bucket.counters, field))
            yield family
        limit = GaugeMetricFamily(
            "harvester_bucket_limit", "Requests allowed per period", labels=["bucket"]
        )
        period = GaugeMetricFamily(
            "harvester_bucket_period_seconds", "A bucket's period", labels=["bucket"]
        )
        for bucket in buckets:
            limit.add_metric([bucket.path], bucket.limit)
            period.add_metric([bucket.path], bucket.period)
        planned = GaugeMetricFamily(
            "harvester_planned_requests",
            "Requests the run's forecast expects",
            labels=["bucket"],
        )
        for path, requests in sorted(self._planned.items()):
            planned.add_metric([path], requests)
        yield from (limit, period, planned)

    def _stream_metrics(self) -> Iterator[Metric]:
        # The report only grows: each unit is counted once.
        for unit in self._report.units[self._counted :]:
            totals = self._streams.setdefault(unit.stream, Counter())
            totals.update(records=unit.records, bytes=unit.bytes, pages=unit.pages)
            self._units[unit.stream, unit.status] += 1
        self._counted = len(self._report.units)
        for name in ("records", "bytes", "pages"):
            family = CounterMetricFamily(
                f"harvester_{name}", f"{name.capitalize()} committed", labels=["stream"]
            )
            for stream, totals in sorted(self._streams.items()):
                family.add_metric([stream], totals[name])
            yield family
        units = CounterMetricFamily(
            "harvester_units", "Units finished, by status", labels=["stream", "status"]
        )
        for (stream, status), count in sorted(self._units.items()):
            units.add_metric([stream, status], count)
        yield units


class Exporter:
    """A run's metrics registry; `observe` takes each request's latency."""

    def __init__(
        self,
        buckets: Iterable[Bucket],
        report: RunReport,
        forecast: Estimate | None = None,
    ) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(RunCollector(buckets, report, forecast))
        ProcessCollector(registry=self.registry)
        self._latency = Histogram(
            "harvester_request_latency_seconds",
            "Time from sending a request to reading its whole answer",
            ["bucket"],
            registry=self.registry,
            buckets=LATENCY_BUCKETS,
        )
        self.host = ""
        self.port = 0

    def observe(self, bucket: str, seconds: float) -> None:
        """Count one answered request of `bucket` that took `seconds`."""
        self._latency.labels(bucket).observe(seconds)

    def text(self) -> bytes:
        """The metrics in Prometheus' text format."""
        return generate_latest(self.registry)

    async def scrape(self, request: web.Request) -> web.Response:
        """Answer a scrape with the metrics as they are now."""
        return web.Response(
            body=self.text(), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )


@asynccontextmanager
async def served(
    port: int,
    buckets: Iterable[Bucket],
    report: RunReport,
    forecast: Estimate | None = None,
    *,
    host: str = DEFAULT_HOST,
) -> AsyncIterator[Exporter]:
    """Serve the run's metrics at http://host:port/metrics for the block.

    Port 0 picks a free one; `Exporter.host` and `.port` say where it is.

    Raises:
        ConfigError: the address cannot be listened on.
    """
    exporter = Exporter(buckets, report, forecast)
    app = web.Application()
    app.router.add_get(PATH, exporter.scrape)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as error:
            raise ConfigError(
                "--metrics-port", f"cannot listen on {host}:{port}: {error.strerror}"
            ) from error
        exporter.host, exporter.port = runner.addresses[0][:2]
        if not _loopback(host):
            log.warning("metrics on %s: reachable beyond this machine", host)
        shown = f"[{host}]" if ":" in host else host
        log.info("metrics at http://%s:%d%s", shown, exporter.port, PATH)
        yield exporter
    finally:
        await runner.cleanup()


def _loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
