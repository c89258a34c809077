"""Log lines in JSON and text: stable fields, parsed back, never a secret."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from multidict import CIMultiDict
from test_harvest import FAST, SECRETS, run_config
from test_secrets import leaks

from harvester import logs
from harvester.emulator.server import running_emulator
from harvester.emulator.settings import EmulatorSettings
from harvester.runner import harvest

log = logging.getLogger("harvester.test")
TOKEN = "MII" + "t0ken-value-" * 8


@pytest.fixture(autouse=True)
def nothing_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    # Masks last for the process; each test starts without any.
    monkeypatch.setattr(logs, "_masked", {})


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    level = logging.getLogger().level
    handler = logs.configure(logging.DEBUG, "json", stream, force=True)
    yield stream
    logging.getLogger().removeHandler(handler)
    logging.getLogger().setLevel(level)


def parsed(stream: io.StringIO) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


def headers() -> CIMultiDict[str]:
    return CIMultiDict(
        {
            "Content-Type": "application/json",
            "X-Auth-Token": TOKEN,
            "X-APIG-Appcode": SECRETS.app_code,
            "x-hcso-appcode": SECRETS.app_code,
        }
    )


def test_json_lines_carry_event_fields_and_run_id(json_lines: io.StringIO) -> None:
    with logs.bound("run-42"):
        log.info(
            "%s: %d records",
            "u1",
            7,
            extra=logs.event("unit.done", unit="u1", stream="s", bucket="/b"),
        )
    log.warning("outside the run")
    inside, outside = parsed(json_lines)
    assert inside["event"] == "unit.done" and inside["message"] == "u1: 7 records"
    assert (inside["unit"], inside["stream"], inside["bucket"]) == ("u1", "s", "/b")
    assert inside["run_id"] == "run-42" and inside["level"] == "info"
    assert inside["logger"] == "harvester.test"
    assert str(inside["ts"]).endswith("Z")
    assert outside["event"] == "log" and "run_id" not in outside


async def test_run_id_follows_into_tasks(json_lines: io.StringIO) -> None:
    async def unit() -> None:
        log.info("in a task")

    with logs.bound("run-7"):
        await asyncio.gather(unit(), unit())
    ours = [line for line in parsed(json_lines) if line["logger"] == log.name]
    assert [line["run_id"] for line in ours] == ["run-7", "run-7"]


def test_header_values_never_print_in_fields(json_lines: io.StringIO) -> None:
    sent = headers()
    log.debug("sent", extra={"headers": sent, "request": {"sent": sent}})
    log.debug("sent", extra={"answer": {"X-Subject-Token": TOKEN}})
    text = json_lines.getvalue()
    assert TOKEN not in text and SECRETS.app_code not in text
    first, second = parsed(json_lines)
    assert first["headers"] == logs.REDACTED
    request = first["request"]
    assert isinstance(request, dict)
    assert request["sent"]["X-Auth-Token"] == logs.REDACTED
    assert request["sent"]["Content-Type"] == "application/json"
    assert second["answer"] == {"X-Subject-Token": logs.REDACTED}


def test_masked_values_never_print_anywhere(json_lines: io.StringIO) -> None:
    quoted = 'pa"ss\\word-1'
    logs.mask(SECRETS.password, SECRETS.app_code, TOKEN, quoted)
    log.info("headers %s", dict(headers()))
    try:
        raise ValueError(f"bad password {SECRETS.password} {quoted}")
    except ValueError:
        log.exception("failed", extra={"note": TOKEN})
    text = json_lines.getvalue()
    for secret in (SECRETS.password, SECRETS.app_code, TOKEN, quoted):
        assert secret not in text
    assert orjson.dumps(quoted).decode()[1:-1] not in text
    failed = parsed(json_lines)[1]
    assert "ValueError: bad password <redacted>" in str(failed["exc"])


def test_text_lines_put_fields_after_the_message() -> None:
    stream = io.StringIO()
    level = logging.getLogger().level
    handler = logs.configure(logging.INFO, "text", stream, force=True)
    try:
        with logs.bound("run-9"):
            log.info(
                "unit failed",
                extra=logs.event("unit.failed", unit="u 1", headers=headers()),
            )
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(level)
    line = stream.getvalue().strip()
    assert " INFO harvester.test: unit failed [" in line
    assert line.endswith(' [event=unit.failed unit="u 1" headers=<redacted>]')


def test_unknown_events_and_formats_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown log event"):
        logs.event("unit.finished")
    with pytest.raises(ValueError, match="text or json"):
        logs.configure(logging.INFO, "xml")


def test_configure_leaves_others_handlers_unless_forced() -> None:
    root = logging.getLogger()
    other = logging.NullHandler()
    root.addHandler(other)
    level = root.level
    assert logs.configure(logging.DEBUG, "json", io.StringIO()) is None
    assert root.level == level
    first = logs.configure(logging.INFO, "json", io.StringIO(), force=True)
    second = logs.configure(logging.WARNING, "text", io.StringIO(), force=True)
    try:
        assert first not in root.handlers and second in root.handlers
        assert other in root.handlers and root.level == logging.WARNING
    finally:
        root.removeHandler(second)
        root.removeHandler(other)
        root.setLevel(level)


async def test_a_harvest_logged_at_debug_leaks_no_secret(
    json_lines: io.StringIO, tmp_path: Path
) -> None:
    site = EmulatorSettings(password=SECRETS.password, app_code=SECRETS.app_code)
    async with running_emulator(site) as emulator:
        run = run_config(emulator.base_url, tmp_path, streams=["device_assets"])
        await harvest(run, SECRETS, tmp_path)
    data = json_lines.getvalue().encode()
    assert len(parsed(json_lines)) > 3
    assert leaks(data, SECRETS) == []


async def test_a_run_logs_its_stable_events_as_json(tmp_path: Path) -> None:
    stream = io.StringIO()
    handler = logs.configure(logging.INFO, "json", stream, force=True)
    settings = EmulatorSettings(
        password=SECRETS.password,
        app_code=SECRETS.app_code,
        limits=FAST,
        faults="flaky,throttle-storm",
        seed=4,
    )
    try:
        async with running_emulator(settings) as emulator:
            streams = ["host_*", "external_resources.*"]
            run = run_config(emulator.base_url, tmp_path, streams=streams)
            await harvest(run, SECRETS, tmp_path)
    finally:
        logging.getLogger().removeHandler(handler)
    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    events = {line["event"] for line in lines}
    assert {"run.started", "unit.done", "request.throttled"} <= events
    done = next(line for line in lines if line["event"] == "unit.done")
    assert {"unit", "stream", "bucket", "records", "run_id"} <= set(done)
