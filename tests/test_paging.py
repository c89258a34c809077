from __future__ import annotations

import re
from collections.abc import AsyncIterator
from urllib.parse import parse_qs

import aiohttp
import orjson
import pytest
from mock_http import mocked_http

from harvester import catalog
from harvester.config import Secrets, SiteConfig
from harvester.errors import ResponseError, UnitError
from harvester.fetch import Client
from harvester.limits import Buckets
from harvester.pages import decode
from harvester.paging import PAGES_AHEAD, Pager
from harvester.plan import Unit, Window

BASE = "http://127.0.0.1:9"
TOKEN = orjson.dumps({"token": {"expires_at": "2999-01-01T00:00:00.000000Z"}})
METRICS = re.compile(rf"^{re.escape(BASE)}{catalog.HOST_METRICS.path}.*")
ASSETS = re.compile(rf"^{re.escape(BASE)}{catalog.DEVICE_ASSETS.path}.*")
JOBS = f"{BASE}/meter/v1/dom/query-jobs"


async def no_sleep(_: float) -> None:
    return None


def pager_for(session: aiohttp.ClientSession, **site: str) -> Pager:
    settings = SiteConfig(base_url=BASE, domain_id="dom", **site)
    client = Client(session, settings, Secrets("p", "c"), Buckets(), sleep=no_sleep)
    return Pager(client, settings)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def issue_token(mocked: mocked_http) -> None:
    mocked.post(
        f"{BASE}/v3/auth/tokens",
        status=201,
        body=TOKEN,
        headers={"X-Subject-Token": "t"},
    )


def records(start: int, count: int) -> list[dict[str, object]]:
    return [{"n": i, "value": str(i)} for i in range(start, start + count)]


def page(total: object, start: int, count: int) -> dict[str, object]:
    return {"total": total, "list": records(start, count)}


async def collect(pager: Pager, unit: Unit, size: int) -> list[bytes]:
    lines: list[bytes] = []
    async for got in pager.pages(unit, size):
        lines += [bytes(r) for r in got.records]
    return lines


def queries(mocked: mocked_http, pattern: re.Pattern[str]) -> list[dict[str, str]]:
    found = []
    for (verb, url), calls in mocked.requests.items():
        if verb == "GET" and pattern.match(str(url)):
            found += [{k: v[0] for k, v in parse_qs(url.query_string).items()}] * len(
                calls
            )
    return sorted(found, key=lambda q: int(q.get("offset_value", 0)))


def host_unit() -> Unit:
    return Unit(catalog.stream("host_metrics"), "h1", Window(1000, 2000))


async def test_offset_pages_cover_total_with_string_total(
    session: aiohttp.ClientSession,
) -> None:
    with mocked_http() as mocked:
        issue_token(mocked)
        mocked.get(ASSETS, payload=page("5", 0, 2))
        mocked.get(ASSETS, payload=page("5", 2, 2))
        mocked.get(ASSETS, payload=page("5", 4, 1))
        unit = Unit(catalog.stream("device_assets"))
        lines = await collect(pager_for(session), unit, 2)
        sent = queries(mocked, ASSETS)
    assert [orjson.loads(line)["n"] for line in lines] == [0, 1, 2, 3, 4]
    assert [q["offset_value"] for q in sent] == ["0", "2", "4"]
    assert all(q["page_size"] == "2" for q in sent)


async def test_window_partition_and_page_offsets_are_sent(
    session: aiohttp.ClientSession,
) -> None:
    with mocked_http() as mocked:
        issue_token(mocked)
        mocked.get(METRICS, payload=page(3, 0, 2))
        mocked.get(METRICS, payload=page(3, 2, 1))
        pager = pager_for(session, offset_unit="pages", window_end="inclusive")
        await collect(pager, host_unit(), 2)
        sent = queries(mocked, METRICS)
    assert sent[0]["host_id"] == "h1"
    assert (sent[0]["begin_time"], sent[0]["end_time"]) == ("1000", "1999")
    assert [q["offset_value"] for q in sent] == ["0", "1"]


async def test_a_silently_capped_page_size_loses_nothing(
    session: aiohttp.ClientSession,
) -> None:
    with mocked_http() as mocked:
        issue_token(mocked)
        for start in range(0, 7, 3):
            mocked.get(METRICS, payload=page(7, start, min(3, 7 - start)))
        lines = await collect(pager_for(session), host_unit(), 5)
        sent = queries(mocked, METRICS)
    assert len(lines) == 7
    assert [q["offset_value"] for q in sent] == ["0", "3", "6"]


async def test_a_total_that_changes_between_pages_fails_the_unit(
    session: aiohttp.ClientSession,
) -> None:
    with mocked_http() as mocked:
        issue_token(mocked)
        mocked.get(METRICS, payload=page(4, 0, 2))
        mocked.get(METRICS, payload=page(5, 2, 2))
        with pytest.raises(UnitError, match="changed while paging"):
            await collect(pager_for(session), host_unit(), 2)


async def test_pages_are_requested_at_most_pages_ahead_of_the_reader(
    session: aiohttp.ClientSession,
) -> None:
    pages = 4 * PAGES_AHEAD
    with mocked_http() as mocked:
        issue_token(mocked)
        for start in range(pages):
            mocked.get(METRICS, payload=page(pages, start, 1))
        ahead = []
        read = 0
        async for _ in pager_for(session).pages(host_unit(), 1):
            read += 1
            ahead.append(len(queries(mocked, METRICS)) - read)
    assert read == pages
    # The page being read was requested too: it counts among PAGES_AHEAD.
    assert max(ahead) == PAGES_AHEAD - 1


async def test_without_total_pages_run_until_a_short_page(
    session: aiohttp.ClientSession,
) -> None:
    with mocked_http() as mocked:
        issue_token(mocked)
        mocked.get(METRICS, payload={"list": records(0, 2)})
        mocked.get(METRICS, payload={"list": records(2, 2)})
        mocked.get(METRICS, payload={"list": records(4, 1)})
        lines = await collect(pager_for(session), host_unit(), 2)
    assert len(lines) == 5


@pytest.mark.parametrize("last", [{"marker": ""}, {"marker": None}, {}])
async def test_sdr_job_flow_ends_on_empty_null_or_missing_marker(
    session: aiohttp.ClientSession, last: dict[str, object]
) -> None:
    with mocked_http() as mocked:
        issue_token(mocked)
        mocked.post(JOBS, status=201, payload={"job_id": "j1"})
        mocked.get(
            f"{JOBS}/j1", payload={"id": "j1", "status": "success", "progress": 100}
        )
        mocked.post(f"{JOBS}/j1/sdr", payload={"data": records(0, 2), "marker": "m1"})
        mocked.post(f"{JOBS}/j1/sdr", payload={"data": records(2, 1), **last})
        unit = Unit(catalog.stream("sdr"), None, Window(0, 86_400_000))
        lines = await collect(pager_for(session), unit, 2)
        created = mocked.requests[("POST", aiohttp.client.URL(JOBS))][0]
    assert len(lines) == 3
    assert created.kwargs["data"] == orjson.dumps(
        {"min_sdr_time": "1970-01-01 00:00:00", "max_sdr_time": "1970-01-02 00:00:00"}
    )


async def test_failed_sdr_jobs_are_recreated_then_fail_the_unit(
    session: aiohttp.ClientSession,
) -> None:
    with mocked_http() as mocked:
        issue_token(mocked)
        for job in ("j1", "j2", "j3"):
            mocked.post(JOBS, status=201, payload={"job_id": job})
            mocked.get(f"{JOBS}/{job}", payload={"id": job, "status": "failure"})
        unit = Unit(catalog.stream("sdr"), None, Window(0, 86_400_000))
        with pytest.raises(UnitError, match="j1, j2, j3"):
            await collect(pager_for(session), unit, 2)


def test_records_keep_the_exact_bytes_the_site_sent() -> None:
    body = b'{"total":2,"list":[{"v":1.10,"big":123456789012345678901234567890},\n'
    body += b' {"s":"caf\\u00e9 \\"q\\""}]}'
    got = decode("e", body)
    assert [bytes(r) for r in got.records] == [
        b'{"v":1.10,"big":123456789012345678901234567890}',
        b'{"s":"caf\\u00e9 \\"q\\""}',
    ]


@pytest.mark.parametrize(
    "body",
    [
        b"<html>oops</html>",
        b'{"total": 1, "list": "x"}',
        b'{"total": -1, "list": []}',
        b'{"total": "lots", "list": []}',
        b'{"total": 1, "list": [nul]}',
    ],
)
def test_unusable_pages_are_response_errors(body: bytes) -> None:
    with pytest.raises(ResponseError):
        decode("e", body)


def test_line_breaks_between_tokens_never_split_a_record() -> None:
    got = decode("e", b'{"list":[{"a":\r\n1,\n"b":"x"}]}')
    assert [bytes(r) for r in got.records] == [b'{"a":  1, "b":"x"}']
