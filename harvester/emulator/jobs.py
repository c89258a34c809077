"""SDR query jobs (4.2): create a job, poll its status, page its data.

A job covers whole UTC days (only the date part of its bounds counts, the
end date is exclusive) and holds the records that existed when it was
created. It runs `sdr_job_seconds` on the monotonic clock: `pending`
briefly, then `running` with rising progress, then `success` at 100.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from harvester.emulator.data import TimedSeries, Window, day_window
from harvester.emulator.data.formats import DAY_MS
from harvester.emulator.errors import bad_request, json_response, not_found
from harvester.emulator.faults import FaultPlan
from harvester.emulator.hashing import hex_id, mix, salt
from harvester.emulator.params import Values, parse_body, parse_path
from harvester.emulator.routing import Match
from harvester.emulator.settings import EmulatorSettings

DEFAULT_LIMIT = 100
PENDING_SHARE = 0.1
# Under the sdr-failure profile a doomed job stops at this share of its run.
FAIL_SHARE = 0.5


@dataclass(frozen=True, slots=True)
class Job:
    """One SDR query job."""

    job_id: str
    domain_id: str
    window: Window
    started: float
    doomed: bool


class SdrJobs:
    """The SDR job store and its three operations."""

    def __init__(
        self,
        settings: EmulatorSettings,
        series: TimedSeries,
        plan: FaultPlan,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._series = series
        self._seconds = settings.sdr_job_seconds
        self._clock = settings.clock
        self._monotonic = monotonic
        self._seed = mix(settings.seed, salt("sdr-jobs"))
        self._failing = "sdr-failure" in plan
        self._jobs: dict[str, Job] = {}
        self._ranges_seen: set[tuple[int, int]] = set()

    async def create(self, request: web.Request, match: Match) -> web.Response:
        """`POST /meter/v1/{domain_id}/query-jobs` (4.2.1): 201 and a job id."""
        domain_id = str(parse_path(match.endpoint, match.path_params)["domain_id"])
        values = parse_body(match.endpoint, await _json_body(request))
        days = self._days(values)
        doomed = self._failing and (days.low, days.high) not in self._ranges_seen
        self._ranges_seen.add((days.low, days.high))

        job_id = hex_id(mix(self._seed, len(self._jobs)))
        now_ms = int(self._clock() * 1000)
        window = Window(days.low, min(days.high, now_ms))
        self._jobs[job_id] = Job(job_id, domain_id, window, self._monotonic(), doomed)
        return json_response(201, orjson.dumps({"job_id": job_id}))

    async def status(self, request: web.Request, match: Match) -> web.Response:
        """`GET /meter/v1/{domain_id}/query-jobs/{job_id}` (4.2.2)."""
        job = self._find(match)
        state, progress = self._progress(job)
        body = {"id": job.job_id, "status": state, "progress": progress}
        return json_response(200, orjson.dumps(body))

    async def data(self, request: web.Request, match: Match) -> web.Response:
        """`POST .../query-jobs/{job_id}/sdr` (4.2.3): one page and a marker."""
        job = self._find(match)
        values = parse_body(match.endpoint, await _json_body(request))
        state, _ = self._progress(job)
        if state != "success":
            raise bad_request(f"job {job.job_id} is {state}, not success")

        start = _read_marker(job, str(values.get("marker", "")))
        stop = start + int(values.get("limit", DEFAULT_LIMIT))
        selection = self._series.select({}, job.window)
        records = selection.records(start, stop)
        marker = _marker(job, stop) if stop < selection.count else ""
        body = b"".join(
            (b'{"data":[', b",".join(records), b'],"marker":', orjson.dumps(marker))
        )
        return json_response(200, body + b"}")

    def _days(self, values: Values) -> Window:
        # The reference makes both bounds optional: the end defaults to the
        # end of today (UTC), the start to one day before the end.
        today = int(self._clock() * 1000) // DAY_MS * DAY_MS
        end = _date_ms("max_sdr_time", values.get("max_sdr_time"), today + DAY_MS)
        begin = _date_ms("min_sdr_time", values.get("min_sdr_time"), end - DAY_MS)
        if end <= begin:
            raise bad_request("max_sdr_time must be on a later date than min_sdr_time")
        return day_window(begin, end)

    def _find(self, match: Match) -> Job:
        ids = parse_path(match.endpoint, match.path_params)
        job = self._jobs.get(str(ids["job_id"]))
        if job is None or job.domain_id != ids["domain_id"]:
            raise not_found(f"no query job {ids['job_id']!r} in this domain")
        return job

    def _progress(self, job: Job) -> tuple[str, int]:
        elapsed = self._monotonic() - job.started
        duration = self._seconds
        if job.doomed and elapsed >= duration * FAIL_SHARE:
            return "failure", int(100 * FAIL_SHARE)
        if elapsed >= duration:
            return "success", 100
        if elapsed < duration * PENDING_SHARE:
            return "pending", 0
        return "running", min(max(int(100 * elapsed / duration), 1), 99)


async def _json_body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise bad_request("the request body is not JSON") from None
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    return body


def _date_ms(name: str, value: int | str | None, default: int) -> int:
    if value is None:
        return default
    try:
        date = datetime.strptime(str(value)[:10], "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise bad_request(f"{name} is not a valid date: {value!r}") from None
    return int(date.timestamp()) * 1000


def _marker(job: Job, position: int) -> str:
    text = f"{job.job_id}.{position}".encode()
    return base64.urlsafe_b64encode(text).decode().rstrip("=")


def _read_marker(job: Job, marker: str) -> int:
    if not marker:
        return 0
    try:
        padded = marker + "=" * (-len(marker) % 4)
        job_id, position = base64.urlsafe_b64decode(padded).decode().split(".")
        if job_id == job.job_id and int(position) >= 0:
            return int(position)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise bad_request(f"marker {marker!r} does not belong to job {job.job_id}")
