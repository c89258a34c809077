"""Fault profiles of the emulated site: seeded, reproducible misbehaviour."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from test_emulator import token_body

from harvester.catalog import DEVICE_ASSETS, HOST_DETAILS, SERVICE_HEALTH
from harvester.emulator import EmulatorSettings, faults, running_emulator

CALLS = 200
DAY = 86_400_000
YESTERDAY = int(time.time() * 1000) // DAY * DAY - DAY


Opened = tuple[str, aiohttp.ClientSession, str]
# The service health bucket is 60 a minute; these tests need more.
ROOMY = {SERVICE_HEALTH.bucket: (10_000, 1.0)}


async def session(profile: str) -> AsyncIterator[Opened]:
    """An emulator with a fault profile, a client and a token."""
    settings = EmulatorSettings(faults=profile, limits=ROOMY)
    async with running_emulator(settings) as emulator, aiohttp.ClientSession() as http:
        async with http.post(
            emulator.base_url + "/v3/auth/tokens", json=token_body()
        ) as r:
            token = r.headers["X-Subject-Token"]
        yield emulator.base_url, http, token


async def outcomes(profile: str, calls: int = CALLS) -> list[Any]:
    """What each of `calls` requests met: a status or an error name.

    The requests are POSTs: aiohttp silently resends an idempotent request
    once when its connection drops, which would hide the `drop` fault.
    """
    seen: list[Any] = []
    async for url, http, token in session(profile):
        headers = {"X-Auth-Token": token, "X-APIG-Appcode": "code"}
        target = url + SERVICE_HEALTH.path.replace("{share_id}", "p1")
        for _ in range(calls):
            try:
                async with http.post(target, headers=headers) as response:
                    raw = await response.read()
                    seen.append((response.status, raw))
            except aiohttp.ClientError as error:
                seen.append(type(error).__name__)
    return seen


def statuses(seen: list[Any]) -> list[Any]:
    return [entry[0] if isinstance(entry, tuple) else entry for entry in seen]


def test_unknown_profile_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="known: none, flaky"):
        EmulatorSettings(faults="chaos")
    assert EmulatorSettings(faults="flaky,slow").fault_plan.names == {"flaky", "slow"}


async def test_flaky_answers_some_5xx_reproducibly() -> None:
    seen = await outcomes("flaky")
    failures = [entry for entry in seen if entry[0] >= 500]
    assert 2 <= len(failures) <= 25
    assert {status for status, _ in failures} <= {502, 503, 504}
    for status, raw in failures:
        if status != 502:
            assert orjson.loads(raw)["error_code"] in ("APIG.0610", "APIG.0613")
    assert statuses(await outcomes("flaky")) == statuses(seen)


async def test_throttle_storm_sends_429s_under_the_limit() -> None:
    seen = statuses(await outcomes("throttle-storm"))
    assert 5 <= seen.count(429) <= 40
    assert set(seen) == {200, 429}


async def test_drop_closes_connections_without_answers() -> None:
    seen = statuses(await outcomes("drop"))
    assert 1 <= seen.count("ServerDisconnectedError") <= 20
    assert set(seen) == {200, "ServerDisconnectedError"}


async def test_truncated_bodies_fail_their_length() -> None:
    seen = statuses(await outcomes("truncated"))
    assert 1 <= seen.count("ClientPayloadError") <= 20
    assert set(seen) == {200, "ClientPayloadError"}


async def test_slow_adds_latency() -> None:
    started = time.perf_counter()
    seen = statuses(await outcomes("slow", calls=5))
    assert seen == [200] * 5
    assert time.perf_counter() - started >= 5 * faults.SLOW_MIN_S


async def test_shifting_total_moves_total_after_page_one() -> None:
    shifted = steady = 0
    async for url, http, token in session("shifting-total"):
        headers = {"X-Auth-Token": token, "X-APIG-Appcode": "code"}
        for hour in range(40):
            begin = YESTERDAY + hour * 600_000
            query = {"begin_time": begin, "end_time": begin + 3_600_000}
            totals = []
            for offset in (0, 5):
                params = query | {"page_size": 5, "offset_value": offset}
                async with http.get(
                    url + HOST_DETAILS.path, params=params, headers=headers
                ) as response:
                    totals.append(orjson.loads(await response.read())["total"])
            assert totals[0] == 12
            shifted += totals[1] == 13
            steady += totals[1] == 12
    assert shifted >= 1
    assert steady >= 20


async def test_expire_tokens_kills_tokens_early(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(faults, "EXPIRED_TOKEN_TTL_S", 0.0)
    async for url, http, token in session("expire-tokens"):
        headers = {"X-Auth-Token": token, "X-APIG-Appcode": "code"}
        target = url + DEVICE_ASSETS.path + "?page_size=1&offset_value=0"
        async with http.get(target, headers=headers) as response:
            body = orjson.loads(await response.read())
        assert (response.status, body["error_code"]) == (401, "APIG.0307")


async def test_admin_routes_never_get_faults() -> None:
    async for url, http, _ in session("drop,flaky,truncated,throttle-storm"):
        for _ in range(60):
            async with http.get(url + "/_emulator/truth?stream=elbv3") as response:
                assert response.status == 200
                assert len((await response.read()).splitlines()) == 4
