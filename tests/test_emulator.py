"""The emulated site's gateway: IAM, auth errors, routing, validation,
offset paging against the truth route, windows, aliases and throttling."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import pytest

from harvester.catalog import (
    DEVICE_ASSETS,
    ELBV3,
    ENDPOINTS,
    HOST_DETAILS,
    HOST_METRICS,
    SERVICE_HEALTH,
    TENANT_RESOURCES,
)
from harvester.emulator import EmulatorSettings, running_emulator

HOUR = 3_600_000
DAY = 24 * HOUR
# Whole past days, so no record is still to come while a test runs.
TODAY = int(time.time() * 1000) // DAY * DAY
YESTERDAY = TODAY - DAY
APP_CODE = "app-code-1"
PASSWORD = "s3cret"


def token_body(password: str = PASSWORD) -> dict[str, Any]:
    user = {"name": "harvest", "password": password, "domain": {"name": "acme"}}
    return {
        "auth": {
            "identity": {"methods": ["password"], "password": {"user": user}},
            "scope": {"project": {"name": "cn-north-7"}},
        }
    }


@dataclass
class Site:
    """A running emulator with a client session and a live token."""

    url: str
    http: aiohttp.ClientSession
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Auth-Token": self.token, "X-APIG-Appcode": APP_CODE}

    async def get(self, path: str, **params: Any) -> tuple[int, Any]:
        async with self.http.get(
            self.url + path, params=params, headers=self.headers
        ) as response:
            return response.status, orjson.loads(await response.read())

    async def truth(self, stream: str, begin: int, end: int) -> list[bytes]:
        params = {"stream": stream, "begin_time": begin, "end_time": end}
        async with self.http.get(self.url + "/_emulator/truth", params=params) as r:
            assert r.status == 200
            assert r.content_type == "application/x-ndjson"
            return (await r.read()).splitlines()

    async def stats(self) -> dict[str, Any]:
        async with self.http.get(self.url + "/_emulator/stats") as response:
            return orjson.loads(await response.read())["buckets"]


async def issue(http: aiohttp.ClientSession, url: str) -> str:
    async with http.post(url + "/v3/auth/tokens", json=token_body()) as response:
        assert response.status == 201
        return response.headers["X-Subject-Token"]


async def open_site(**overrides: Any) -> AsyncIterator[Site]:
    settings = EmulatorSettings(password=PASSWORD, app_code=APP_CODE, **overrides)
    async with running_emulator(settings) as emulator, aiohttp.ClientSession() as http:
        yield Site(emulator.base_url, http, await issue(http, emulator.base_url))


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    async for opened in open_site():
        yield opened


async def test_iam_issues_a_long_token_with_expiry() -> None:
    settings = EmulatorSettings(password=PASSWORD, token_ttl_s=3600)
    async with running_emulator(settings) as emulator, aiohttp.ClientSession() as http:
        url = emulator.base_url + "/v3/auth/tokens"
        async with http.post(url, json=token_body()) as response:
            assert response.status == 201
            token = response.headers["X-Subject-Token"]
            body = orjson.loads(await response.read())

    assert len(token) > 2000
    assert re.fullmatch(r"[-_A-Za-z0-9]+", token)
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"
    assert re.fullmatch(stamp, body["token"]["expires_at"])
    assert body["token"]["expires_at"] > body["token"]["issued_at"]
    assert body["token"]["methods"] == ["password"]
    assert body["token"]["project"]["name"] == "cn-north-7"
    assert body["token"]["user"] == {"name": "harvest", "domain": {"name": "acme"}}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (token_body("wrong"), 401),
        ({"auth": {"identity": {"methods": ["password"]}}}, 400),
        ({"auth": "nope"}, 400),
    ],
)
async def test_iam_refuses_in_its_own_error_shape(body: Any, status: int) -> None:
    settings = EmulatorSettings(password=PASSWORD)
    async with running_emulator(settings) as emulator, aiohttp.ClientSession() as http:
        url = emulator.base_url + "/v3/auth/tokens"
        async with http.post(url, json=body) as response:
            assert response.status == status
            assert "X-Subject-Token" not in response.headers
            error = orjson.loads(await response.read())["error"]

    assert error["code"] == status
    assert error["title"] in ("Unauthorized", "Bad Request")
    assert PASSWORD not in error["message"]


async def test_gateway_auth_errors(site: Site) -> None:
    url = site.url + DEVICE_ASSETS.path + "?page_size=1&offset_value=0"
    cases = [
        ({"X-APIG-Appcode": APP_CODE}, "APIG.0301"),
        ({"X-Auth-Token": "MIIbogus", "X-APIG-Appcode": APP_CODE}, "APIG.0301"),
        ({"X-Auth-Token": site.token}, "APIG.0303"),
        ({"X-Auth-Token": site.token, "X-APIG-Appcode": "other"}, "APIG.0303"),
        (
            {"x-auth-token": site.token, "x-apig-appcode": APP_CODE}
            | {"X-HCSO-APPCODE": "other"},
            "APIG.0303",
        ),
    ]
    for headers, code in cases:
        async with site.http.get(url, headers=headers) as response:
            body = orjson.loads(await response.read())
            assert (response.status, body["error_code"]) == (401, code)
            assert re.fullmatch(r"[0-9a-f]{32}", body["request_id"])

    headers = {"x-auth-token": site.token, "x-hcso-appcode": APP_CODE}
    async with site.http.get(url, headers=headers | {"x-hcso-domainid": "x"}) as r:
        assert r.status == 200


async def test_expired_token_is_apig_0307() -> None:
    settings = EmulatorSettings(token_ttl_s=0.2)
    async with running_emulator(settings) as emulator, aiohttp.ClientSession() as http:
        token = await issue(http, emulator.base_url)
        await asyncio.sleep(0.3)
        headers = {"X-Auth-Token": token, "x-hcso-appcode": "any"}
        url = emulator.base_url + ELBV3.path + "?page_size=5&offset_value=0"
        async with http.get(url, headers=headers) as response:
            body = orjson.loads(await response.read())

    assert (response.status, body["error_code"]) == (401, "APIG.0307")


async def test_unknown_path_and_wrong_method_are_apig_0101(site: Site) -> None:
    for method, path in [
        ("GET", "/rest/dataapi/homs/open-api/v1/nothing"),
        ("POST", DEVICE_ASSETS.path),
        ("GET", "/"),
    ]:
        async with site.http.request(method, site.url + path) as response:
            body = orjson.loads(await response.read())
            assert (response.status, body["error_code"]) == (404, "APIG.0101")


@pytest.mark.parametrize(
    ("path", "params", "named"),
    [
        (HOST_DETAILS.path, {"page_size": 501, "offset_value": 0}, "page_size"),
        (DEVICE_ASSETS.path, {"page_size": 101, "offset_value": 0}, "page_size"),
        (HOST_DETAILS.path, {"begin_time": None, "page_size": 5}, "begin_time"),
        (DEVICE_ASSETS.path, {"page_size": "ten", "offset_value": 0}, "page_size"),
        (DEVICE_ASSETS.path, {"page_size": 5, "offset_value": -1}, "offset_value"),
        (HOST_METRICS.path, {"begin_time": 0, "end_time": 1}, "host_id"),
    ],
)
async def test_bad_parameters_are_400_naming_them(
    site: Site, path: str, params: dict[str, Any], named: str
) -> None:
    window = {"begin_time": YESTERDAY, "end_time": TODAY, "offset_value": 0}
    query = {
        name: value for name, value in (window | params).items() if value is not None
    }
    status, body = await site.get(path, **query)
    assert status == 400
    assert body["error_code"] == "ESM.0400"
    assert named in body["error_msg"]


async def test_page_size_absent_defaults_to_500(site: Site) -> None:
    _, hosts = await site.get(
        HOST_DETAILS.path, begin_time=YESTERDAY, end_time=TODAY, page_size=1,
        offset_value=0,
    )  # fmt: skip
    host_id = hosts["list"][0]["HOST_ID"]
    status, body = await site.get(
        HOST_METRICS.path, host_id=host_id, begin_time=YESTERDAY, end_time=TODAY
    )
    assert status == 200
    assert len(body["list"]) == 500
    assert body["total"] == 288 * 4


async def fetch_pages(site: Site, path: str, size: int, **params: Any) -> list[bytes]:
    # Re-read the raw bytes of each record, as a harvester keeping them would.
    out: list[bytes] = []
    offset, pages_mode = 0, params.pop("_pages", False)
    while True:
        query = params | {"page_size": size, "offset_value": offset}
        async with site.http.get(
            site.url + path, params=query, headers=site.headers
        ) as response:
            assert response.status == 200
            raw = await response.read()
        body = orjson.loads(raw)
        out += [orjson.dumps(record) for record in body["list"]]
        if len(out) >= int(body["total"]) or not body["list"]:
            return out
        offset = offset + 1 if pages_mode else offset + size


async def test_offset_pages_concatenate_to_truth(site: Site) -> None:
    begin, end = YESTERDAY + 5 * HOUR + 17, YESTERDAY + 7 * HOUR + 123_457
    truth = await site.truth("host_metrics", begin, end)
    _, hosts = await site.get(
        HOST_DETAILS.path, begin_time=YESTERDAY, end_time=YESTERDAY + HOUR,
        page_size=500, offset_value=0,
    )  # fmt: skip
    harvested: list[bytes] = []
    for host in hosts["list"]:
        harvested += await fetch_pages(
            site, HOST_METRICS.path, 37, host_id=host["HOST_ID"], begin_time=begin,
            end_time=end,
        )  # fmt: skip

    assert len(truth) == 12 * 4 * 24
    assert harvested == truth


async def test_event_stream_pages_match_truth_at_ragged_bounds(site: Site) -> None:
    begin, end = YESTERDAY + 1234, TODAY - 98_765
    truth = await site.truth("audit_logs", begin, end)
    path = "/rest/dataapi/homs/open-api/v1/cloudAuditlog"
    harvested = await fetch_pages(site, path, 100, begin_time=begin, end_time=end)
    assert 200 < len(truth) <= 240
    assert harvested == truth
    assert any("\\" in line.decode() for line in truth)
    assert any(not line.isascii() for line in truth)


async def test_offset_unit_pages_reads_page_indexes() -> None:
    async for site in open_site(offset_unit="pages"):
        truth = await site.truth("vm_performance", YESTERDAY, YESTERDAY + 2 * HOUR)
        harvested = await fetch_pages(
            site, "/rest/dataapi/homs/open-api/v1/ecs/performance", 64,
            begin_time=YESTERDAY, end_time=YESTERDAY + 2 * HOUR, _pages=True,
        )  # fmt: skip
        assert len(truth) == 30 * 2 * 24
        assert harvested == truth


@pytest.mark.parametrize(("window_end", "hours"), [("exclusive", 1), ("inclusive", 2)])
async def test_window_end(window_end: str, hours: int) -> None:
    async for site in open_site(window_end=window_end):
        begin, end = YESTERDAY + 3 * HOUR, YESTERDAY + 4 * HOUR
        _, body = await site.get(
            HOST_DETAILS.path, begin_time=begin, end_time=end, page_size=500,
            offset_value=0,
        )  # fmt: skip
        stamps = {int(record["TIMESTAMP"]) for record in body["list"]}
        assert body["total"] == 12 * hours
        assert stamps == {begin + n * HOUR for n in range(hours)}
        assert len(await site.truth("host_details", begin, end)) == 12 * hours


async def test_no_data_after_now() -> None:
    frozen = (YESTERDAY + 10 * HOUR + 1) / 1000
    async for site in open_site(clock=lambda: frozen):
        _, body = await site.get(
            HOST_DETAILS.path, begin_time=YESTERDAY, end_time=TODAY, page_size=500,
            offset_value=0,
        )  # fmt: skip
        assert body["total"] == 12 * 11


async def test_both_spellings_share_one_bucket(site: Site) -> None:
    _, first = await site.get(ELBV3.path, page_size=10, offset_value=0)
    _, second = await site.get(ELBV3.aliases[0], page_size=10, offset_value=0)
    assert first == second
    assert first["total"] == 4

    ecs = TENANT_RESOURCES[0]
    _, typo = await site.get(ecs.path)
    _, usual = await site.get(ecs.aliases[0])
    assert typo == usual
    assert usual["total"] == len(usual["list"]) == 30

    stats = await site.stats()
    assert stats[ELBV3.bucket]["requests"] == 2
    assert stats[ecs.bucket]["requests"] == 2


async def test_service_health_takes_any_share_id(site: Site) -> None:
    bodies = []
    for share_id in ("", "project-1"):
        url = site.url + SERVICE_HEALTH.path.replace("{share_id}", share_id)
        async with site.http.post(url, headers=site.headers) as response:
            assert response.status == 200
            bodies.append(orjson.loads(await response.read()))
    assert bodies[0] == bodies[1]
    assert bodies[0]["total"] == len(bodies[0]["list"]) == 10


async def test_total_is_a_string_where_the_samples_say(site: Site) -> None:
    _, assets = await site.get(DEVICE_ASSETS.path, page_size=100, offset_value=100)
    assert assets["total"] == "150"
    assert len(assets["list"]) == 50
    _, capacity = await site.get(
        "/rest/dataapi/homs/open-api/v1/CloudService/capacity",
        service_type="EIP", begin_time=YESTERDAY, end_time=TODAY, page_size=100,
        offset_value=0,
    )  # fmt: skip
    assert (capacity["code"], capacity["msg"]) == ("0", "success")
    assert capacity["total"] == len(capacity["list"]) == 48
    assert {record["service_type"] for record in capacity["list"]} == {"EIP"}


async def test_throttle_counts_every_arrival_and_sends_no_retry_after() -> None:
    limits = {DEVICE_ASSETS.bucket: (5, 2.0)}
    async for site in open_site(limits=limits):
        url = site.url + DEVICE_ASSETS.path + "?page_size=1&offset_value=0"
        statuses = []
        for n in range(7):
            # Arrivals without a token count too: throttling comes first.
            headers = site.headers if n % 2 else {}
            async with site.http.get(url, headers=headers) as response:
                statuses.append(response.status)
                if response.status == 429:
                    assert "Retry-After" not in response.headers
                    body = orjson.loads(await response.read())

        assert statuses == [401, 200, 401, 200, 401, 429, 429]
        assert body["error_code"] == "APIG.0308"
        assert DEVICE_ASSETS.bucket in body["error_msg"]
        assert "limit 5 per 2 s" in body["error_msg"]
        stats = (await site.stats())[DEVICE_ASSETS.bucket]
        assert stats == {
            "limit": 5, "period_s": 2.0, "requests": 7, "throttled": 2,
            "max_in_window": 7,
        }  # fmt: skip


async def test_every_data_endpoint_of_the_catalog_is_served(site: Site) -> None:
    _, hosts = await site.get(
        HOST_DETAILS.path, begin_time=YESTERDAY, end_time=TODAY, page_size=1,
        offset_value=0,
    )  # fmt: skip
    known = {
        "begin_time": YESTERDAY, "end_time": TODAY, "page_size": 5,
        "offset_value": 0, "host_id": hosts["list"][0]["HOST_ID"],
    }  # fmt: skip
    served = 0
    for endpoint in ENDPOINTS:
        if endpoint.name.startswith(("iam.", "sdr.")):
            continue
        path = endpoint.path.format(share_id="p1", resource_type="ECS")
        params = {p.name: known[p.name] for p in endpoint.query if p.required}
        async with site.http.request(
            endpoint.method, site.url + path, params=params, headers=site.headers
        ) as response:
            assert response.status == 200, endpoint.name
            body = orjson.loads(await response.read())
        assert int(body["total"]) >= len(body["list"]) > 0, endpoint.name
        served += 1
    assert served == len(ENDPOINTS) - 4
