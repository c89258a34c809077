"""Live progress, rendered from buckets and a report to in-memory streams."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterator
from types import SimpleNamespace

import orjson
import pytest
from rich.console import Console

from harvester import catalog, logs, progress
from harvester.estimate import BucketEstimate, Estimate
from harvester.limits import Buckets
from harvester.manifest import UnitReport

CAPACITY = catalog.SERVICE_CAPACITY.bucket
METRICS = catalog.HOST_METRICS.bucket


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def no_forced_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    # rich treats these as "this is a terminal" whatever the stream is.
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    level = logging.getLogger().level
    handler = logs.configure(logging.INFO, "json", stream, force=True)
    yield stream
    logging.getLogger().removeHandler(handler)
    logging.getLogger().setLevel(level)


def run_state() -> tuple[Buckets, SimpleNamespace, Estimate]:
    buckets = Buckets()
    capacity = buckets.get(CAPACITY, 60, 60.0)
    capacity.counters.requests, capacity.counters.throttled = 4, 1
    buckets.get(METRICS, 4000, 1.0).counters.requests = 30
    units = [
        UnitReport(f"service_capacity.ecs_vm/w/{i}", "service_capacity.ecs_vm",
                   None, None, "ok", records=96, pages=1)
        for i in range(3)
    ] + [UnitReport("host_metrics/w/h1", "host_metrics", "h1", None, "ok",
                    records=1152, pages=2)]  # fmt: skip
    report = SimpleNamespace(run_id="0123456789abcdef", units=units)
    forecast = Estimate(
        0,
        1,
        (),
        (
            BucketEstimate(CAPACITY, 60, 60.0, 10, 10, 9.1, "one page"),
            BucketEstimate(METRICS, 4000, 1.0, 12, 24, 0.0, "history"),
        ),
        9.1,
        CAPACITY,
    )
    return buckets, report, forecast


def test_rows_join_counters_report_and_forecast_per_bucket() -> None:
    buckets, report, forecast = run_state()
    rows = progress.Progress(buckets, report, forecast).rows()  # type: ignore[arg-type]

    assert [r.bucket for r in rows] == [CAPACITY, METRICS]
    capacity, metrics = rows
    assert (capacity.requests, capacity.planned, capacity.throttled) == (4, 10, 1)
    assert (capacity.units, capacity.planned_units, capacity.records) == (3, 10, 288)
    assert capacity.eta_s == pytest.approx(6 * 60.6 / 60)
    # More sent than the forecast planned: planned grows to match.
    assert (metrics.requests, metrics.planned, metrics.records) == (30, 30, 1152)
    assert metrics.eta_s == 0.0


def test_rate_is_measured_over_recent_samples() -> None:
    buckets, report, _ = run_state()
    now = [100.0]
    view = progress.Progress(buckets, report, clock=lambda: now[0])
    view.rows()
    now[0] = 102.0
    buckets.get(CAPACITY, 60, 60.0).counters.requests += 2
    [capacity] = [r for r in view.rows() if r.bucket == CAPACITY]
    assert capacity.rate == pytest.approx(1.0)


def test_table_shows_each_bucket_by_endpoint_name() -> None:
    buckets, report, forecast = run_state()
    out = io.StringIO()
    view = progress.Progress(buckets, report, forecast)  # type: ignore[arg-type]
    Console(file=out, width=120).print(view.table())
    text = out.getvalue()
    assert "run 01234567" in text
    assert "service_capacity" in text and "4/10" in text and "3/10" in text
    assert "host_metrics" in text and "30/30" in text and "1/12" in text


async def test_off_a_terminal_a_line_is_logged_and_stdout_is_untouched(
    logged: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    buckets, report, forecast = run_state()
    stream = io.StringIO()
    async with progress.shown(
        buckets,
        report,
        forecast,
        stream=stream,
        interval_s=0.01,  # type: ignore[arg-type]
    ):
        await asyncio.sleep(0.05)
    lines = [orjson.loads(line) for line in logged.getvalue().splitlines()]
    ticks = [line for line in lines if line["event"] == "run.progress"]
    assert len(ticks) >= 2
    assert ticks[-1]["requests"] == 34 and ticks[-1]["planned"] == 40
    assert ticks[-1]["records"] == 288 + 1152 and ticks[-1]["bucket"] == CAPACITY
    assert stream.getvalue() == "" and capsys.readouterr().out == ""


async def test_on_a_terminal_the_table_is_drawn_on_the_stream_only(
    logged: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    buckets, report, forecast = run_state()
    screen = Terminal()
    async with progress.shown(
        buckets,
        report,
        forecast,
        stream=screen,
        interval_s=0.01,  # type: ignore[arg-type]
    ):
        await asyncio.sleep(0.03)
        buckets.get(CAPACITY, 60, 60.0).counters.requests = 10
    assert "service_capacity" in screen.getvalue()
    assert "10/10" in screen.getvalue()
    assert "run.progress" not in logged.getvalue()
    assert capsys.readouterr().out == ""


async def test_quiet_shows_nothing(logged: io.StringIO) -> None:
    buckets, report, forecast = run_state()
    screen = Terminal()
    async with progress.shown(
        buckets,
        report,
        forecast,
        quiet=True,
        stream=screen,
        interval_s=0.01,  # type: ignore[arg-type]
    ):
        await asyncio.sleep(0.03)
    assert screen.getvalue() == "" and logged.getvalue() == ""
