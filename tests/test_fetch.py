from __future__ import annotations

import re
from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest
from mock_http import mocked_http as aioresponses

from harvester import catalog
from harvester.config import Secrets, SiteConfig
from harvester.errors import (
    AuthError,
    ConfigError,
    RequestError,
    ThrottledError,
    TransientError,
)
from harvester.fetch import Client, check_transport, error_of, retry_after
from harvester.limits import Bucket, Buckets, LocalGrants

BASE = "http://127.0.0.1:9"
IAM = f"{BASE}/v3/auth/tokens"
DATA = re.compile(rf"^{re.escape(BASE)}/rest/dataapi/homs/open-api/v1/host/detail.*")
TOKEN_BODY = orjson.dumps({"token": {"expires_at": "2999-01-01T00:00:00.000000Z"}})


def gateway(code: str) -> dict[str, str]:
    return {"error_code": code, "error_msg": "no", "request_id": "r"}


async def no_sleep(_: float) -> None:
    return None


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    async with aiohttp.ClientSession() as session:
        yield Client(
            session,
            SiteConfig(base_url=BASE),
            Secrets("pw-secret", "code-secret"),
            Buckets(),
            attempts=4,
            sleep=no_sleep,
        )


def data_bucket(client: Client) -> Bucket:
    sla = catalog.HOST_DETAILS.sla
    return client.buckets.get(catalog.HOST_DETAILS.bucket, sla.limit, sla.period)


def issue_tokens(mocked: aioresponses, *tokens: str) -> None:
    for token in tokens:
        mocked.post(
            IAM, status=201, body=TOKEN_BODY, headers={"X-Subject-Token": token}
        )


def requests_to(mocked: aioresponses, method: str, pattern: re.Pattern[str]) -> list:
    return [
        call
        for (verb, url), calls in mocked.requests.items()
        if verb == method and pattern.match(str(url))
        for call in calls
    ]


async def test_token_is_fetched_once_and_sent_with_app_codes(client: Client) -> None:
    with aioresponses() as mocked:
        issue_tokens(mocked, "t1")
        mocked.get(DATA, payload={"total": 0, "list": []}, repeat=True)
        await client.call(catalog.HOST_DETAILS)
        await client.call(catalog.HOST_DETAILS)
        sent = requests_to(mocked, "GET", DATA)
    assert client.tokens.issued == 1
    headers = sent[0].kwargs["headers"]
    assert headers["X-Auth-Token"] == "t1"
    assert headers["X-APIG-Appcode"] == headers["x-hcso-appcode"] == "code-secret"
    assert "x-hcso-domainid" not in headers


class WatchingGrants:
    """Grants that never wait, noting how many tokens were issued at each."""

    def __init__(self) -> None:
        self.client: Client | None = None
        self.issued_at_take: list[int] = []

    async def take(self) -> None:
        assert self.client is not None
        self.issued_at_take.append(self.client.tokens.issued)


async def test_the_token_is_had_before_the_grant_is_taken() -> None:
    # A shared budget counts a grant as sent at once; waiting for IAM after
    # it would send the request later than its lease allows.
    data = WatchingGrants()

    def grants(path: str, limit: int, period: float) -> object:
        if path == catalog.HOST_DETAILS.bucket:
            return data
        return LocalGrants(limit, period)

    async with aiohttp.ClientSession() as session:
        data.client = Client(
            session,
            SiteConfig(base_url=BASE),
            Secrets("pw-secret", "code-secret"),
            Buckets(grants=grants),  # type: ignore[arg-type]
            sleep=no_sleep,
        )
        with aioresponses() as mocked:
            issue_tokens(mocked, "t1")
            mocked.get(DATA, payload={"total": 0, "list": []})
            await data.client.call(catalog.HOST_DETAILS)
    assert data.issued_at_take == [1]


@pytest.mark.parametrize("code", ["APIG.0301", "APIG.0307"])
async def test_token_refused_is_renewed_once(client: Client, code: str) -> None:
    with aioresponses() as mocked:
        issue_tokens(mocked, "t1", "t2")
        mocked.get(DATA, status=401, payload=gateway(code))
        mocked.get(DATA, payload={"total": 0, "list": []})
        body = await client.call(catalog.HOST_DETAILS)
        sent = requests_to(mocked, "GET", DATA)
    assert orjson.loads(body)["total"] == 0
    assert [c.kwargs["headers"]["X-Auth-Token"] for c in sent] == ["t1", "t2"]


async def test_token_refused_twice_fails(client: Client) -> None:
    with aioresponses() as mocked:
        issue_tokens(mocked, "t1", "t2")
        mocked.get(DATA, status=401, payload=gateway("APIG.0301"), repeat=True)
        with pytest.raises(AuthError) as caught:
            await client.call(catalog.HOST_DETAILS)
    assert "pw-secret" not in str(caught.value)


async def test_wrong_app_code_fails_fast_with_a_hint(client: Client) -> None:
    with aioresponses() as mocked:
        issue_tokens(mocked, "t1")
        mocked.get(DATA, status=401, payload=gateway("APIG.0303"))
        with pytest.raises(AuthError, match="app code"):
            await client.call(catalog.HOST_DETAILS)


async def test_wrong_password_names_iam_error(client: Client) -> None:
    iam_error = {"error": {"code": 401, "message": "bad password", "title": "U"}}
    with aioresponses() as mocked:
        mocked.post(IAM, status=401, payload=iam_error)
        with pytest.raises(AuthError, match="bad password"):
            await client.call(catalog.HOST_DETAILS)


async def test_429_backs_off_the_bucket_and_is_counted(client: Client) -> None:
    with aioresponses() as mocked:
        issue_tokens(mocked, "t1")
        mocked.get(
            DATA, status=429, payload=gateway("APIG.0308"), headers={"Retry-After": "0"}
        )
        mocked.get(DATA, payload={"total": 0, "list": []})
        await client.call(catalog.HOST_DETAILS)
    bucket = data_bucket(client)
    assert bucket.counters.throttled == 1
    assert bucket.counters.requests == 2


async def test_429_on_every_attempt_raises_throttled(client: Client) -> None:
    with aioresponses() as mocked:
        issue_tokens(mocked, "t1")
        mocked.get(
            DATA,
            status=429,
            payload=gateway("APIG.0308"),
            headers={"Retry-After": "0"},
            repeat=True,
        )
        with pytest.raises(ThrottledError):
            await client.call(catalog.HOST_DETAILS)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_server_errors_are_retried(client: Client, status: int) -> None:
    with aioresponses() as mocked:
        issue_tokens(mocked, "t1")
        mocked.get(DATA, status=status, body="<html>busy</html>")
        mocked.get(DATA, exception=aiohttp.ServerDisconnectedError())
        mocked.get(DATA, payload={"total": 0, "list": []})
        await client.call(catalog.HOST_DETAILS)
    assert data_bucket(client).counters.retries == 2


async def test_gateway_transient_codes_are_retried(client: Client) -> None:
    with aioresponses() as mocked:
        issue_tokens(mocked, "t1")
        mocked.get(DATA, status=400, payload=gateway("APIG.0610"))
        mocked.get(DATA, payload={"total": 0, "list": []})
        await client.call(catalog.HOST_DETAILS)


async def test_retries_run_out(client: Client) -> None:
    with aioresponses() as mocked:
        issue_tokens(mocked, "t1")
        mocked.get(DATA, exception=TimeoutError(), repeat=True)
        with pytest.raises(TransientError, match="4 attempts"):
            await client.call(catalog.HOST_DETAILS)


async def test_other_client_errors_fail_at_once(client: Client) -> None:
    with aioresponses() as mocked:
        issue_tokens(mocked, "t1")
        mocked.get(
            DATA,
            status=400,
            payload={"error_code": "ESM.0400", "error_msg": "page_size"},
        )
        with pytest.raises(RequestError, match="page_size") as caught:
            await client.call(catalog.HOST_DETAILS)
    assert caught.value.status == 400
    assert data_bucket(client).counters.requests == 1


def test_error_bodies_of_all_three_shapes() -> None:
    assert error_of(orjson.dumps(gateway("APIG.0308"))) == ("APIG.0308", "no")
    assert error_of(b'{"error_code":"AS.0001","error_msg":"m"}') == ("AS.0001", "m")
    iam = b'{"error":{"code":401,"message":"m","title":"t"}}'
    assert error_of(iam) == ("401", "m")
    assert error_of(b"<html>Bad gateway</html>") == ("", "<html>Bad gateway</html>")


def test_retry_after_in_seconds_or_http_date() -> None:
    assert retry_after({"Retry-After": "3"}, 0) == 3.0
    date = "Wed, 21 Oct 2015 07:28:00 GMT"
    assert retry_after({"Retry-After": date}, 1445412470.0) == 10.0
    assert retry_after({}, 0) is None


def test_plain_http_is_refused_off_loopback() -> None:
    check_transport("http://127.0.0.1:8080", False)
    check_transport("http://[::1]:8080", False)
    check_transport("https://esm.example.com", False)
    check_transport("http://esm.example.com", True)
    with pytest.raises(ConfigError, match="allow_plain_http"):
        check_transport("http://esm.example.com", False)
