"""SDR query jobs on the emulated site: the job flow end to end, markers,
refusals, and the sdr-failure fault."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import pytest
from test_emulator import token_body

from harvester.emulator import EmulatorSettings, running_emulator

DAY = 86_400_000
TODAY = int(time.time() * 1000) // DAY * DAY
DOMAIN = "domain-1"
JOBS = f"/meter/v1/{DOMAIN}/query-jobs"


@dataclass
class Site:
    url: str
    http: aiohttp.ClientSession
    headers: dict[str, str]

    async def call(
        self, method: str, path: str, body: Any = None
    ) -> tuple[int, dict[str, Any]]:
        async with self.http.request(
            method, self.url + path, json=body, headers=self.headers
        ) as response:
            return response.status, orjson.loads(await response.read())

    async def create(self, first_day: str, end_day: str) -> str:
        body = {
            "hcso_id": "hcso-1",
            "region_id": "cn-north-7",
            "min_sdr_time": f"{first_day} 13:45:00",
            "max_sdr_time": f"{end_day} 00:00:00",
        }
        status, created = await self.call("POST", JOBS, body)
        assert status == 201
        return created["job_id"]

    async def wait(self, job_id: str) -> list[tuple[str, int]]:
        seen: list[tuple[str, int]] = []
        for _ in range(200):
            status, job = await self.call("GET", f"{JOBS}/{job_id}")
            assert status == 200
            assert job["id"] == job_id
            seen.append((job["status"], job["progress"]))
            if job["status"] in ("success", "failure"):
                return seen
            await asyncio.sleep(0.01)
        raise AssertionError(f"job {job_id} never finished: {seen[-3:]}")


async def open_site(**overrides: Any) -> AsyncIterator[Site]:
    settings = EmulatorSettings(sdr_job_seconds=0.3, **overrides)
    async with running_emulator(settings) as emulator, aiohttp.ClientSession() as http:
        async with http.post(
            emulator.base_url + "/v3/auth/tokens", json=token_body()
        ) as r:
            token = r.headers["X-Subject-Token"]
        headers = {"X-Auth-Token": token, "X-APIG-Appcode": "code"}
        yield Site(emulator.base_url, http, headers)


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    async for opened in open_site():
        yield opened


def day(stamp: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(stamp // 1000))


async def test_job_flow_end_to_end_equals_truth(site: Site) -> None:
    first, end = TODAY - 3 * DAY, TODAY - DAY
    job_id = await site.create(day(first), day(end))
    status, early = await site.call("POST", f"{JOBS}/{job_id}/sdr", {"limit": 10})
    assert status == 400
    assert early["error_code"] == "ESM.0400"

    seen = await site.wait(job_id)
    assert seen[0] == ("pending", 0)
    running = [progress for state, progress in seen if state == "running"]
    assert running == sorted(running)
    assert 0 < running[0] <= running[-1] < 100
    assert seen[-1] == ("success", 100)

    records: list[bytes] = []
    marker: str | None = None
    while marker != "":
        body = {"limit": 200} | ({"marker": marker} if marker else {})
        status, page = await site.call("POST", f"{JOBS}/{job_id}/sdr", body)
        assert status == 200
        assert len(page["data"]) <= 200
        records += [orjson.dumps(record) for record in page["data"]]
        marker = page["marker"]

    params = {"stream": "sdr", "begin_time": first + 5, "end_time": end + 7}
    async with site.http.get(site.url + "/_emulator/truth", params=params) as r:
        truth = (await r.read()).splitlines()
    assert len(truth) == 2 * 504
    assert records == truth


async def test_job_data_answers_get_with_default_limit(site: Site) -> None:
    job_id = await site.create(day(TODAY - DAY), day(TODAY))
    await site.wait(job_id)
    status, page = await site.call("GET", f"{JOBS}/{job_id}/sdr")
    assert status == 200
    assert len(page["data"]) == 100
    assert page["marker"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", f"{JOBS}/nosuchjob", None, 404),
        ("GET", f"{JOBS}/bad!id", None, 400),
        ("POST", JOBS, {"min_sdr_time": "2024-01-01"}, 400),
        ("POST", JOBS, {"min_sdr_time": "2024-02-01 00:00:00",
                        "max_sdr_time": "2024-01-01 00:00:00"}, 400),
    ],
)  # fmt: skip
async def test_job_refusals(
    site: Site, method: str, path: str, body: Any, status: int
) -> None:
    answered, error = await site.call(method, path, body)
    assert answered == status
    assert error["error_code"] == f"ESM.0{status}"


async def test_bad_limit_and_foreign_marker_are_400(site: Site) -> None:
    job_id = await site.create(day(TODAY - DAY), day(TODAY))
    await site.wait(job_id)
    for body in ({"limit": 201}, {"limit": 0}, {"marker": "Zm9vLjE"}):
        status, _ = await site.call("POST", f"{JOBS}/{job_id}/sdr", body)
        assert status == 400


async def test_sdr_failure_fails_the_first_job_per_range() -> None:
    async for site in open_site(faults="sdr-failure"):
        first = await site.create(day(TODAY - 2 * DAY), day(TODAY - DAY))
        assert (await site.wait(first))[-1] == ("failure", 50)
        status, _ = await site.call("POST", f"{JOBS}/{first}/sdr", {})
        assert status == 400

        other = await site.create(day(TODAY - 3 * DAY), day(TODAY - DAY))
        again = await site.create(day(TODAY - 2 * DAY), day(TODAY - DAY))
        assert (await site.wait(other))[-1][0] == "failure"
        assert (await site.wait(again))[-1] == ("success", 100)
