"""Sending one request: bucket, token, HTTP, then retry or classify.

This is the one place where aiohttp errors become harvester errors. Every
attempt, retries included, spends a token of the endpoint's bucket.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
import orjson

from harvester import catalog, logs
from harvester.auth import TokenSource
from harvester.catalog import Endpoint
from harvester.config import Secrets, SiteConfig
from harvester.errors import (
    AuthError,
    ConfigError,
    RequestError,
    ThrottledError,
    TransientError,
    UnreachableError,
)
from harvester.limits import Bucket, Buckets

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 15.0
TOKEN_CODES = {"APIG.0301", "APIG.0307"}
TRANSIENT_STATUS = {500, 502, 503, 504}
TRANSIENT_CODES = {"APIG.0610", "APIG.0613"}
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 30.0


@dataclass(frozen=True, slots=True)
class Answer:
    """A response as read off the wire; status 0 when none came."""

    status: int
    body: bytes
    headers: Mapping[str, str]
    token: str | None = None
    problem: str = ""


def open_session(site: SiteConfig, connections: int = 128) -> aiohttp.ClientSession:
    """An HTTP session fit for the site: TLS checked, large headers allowed.

    Raises:
        ConfigError: plain http:// is asked for a host that is not loopback.
    """
    check_transport(site.base_url, site.allow_plain_http)
    check_transport(site.iam_url, site.allow_plain_http, "site.iam_url")
    context = ssl.create_default_context(cafile=site.ca_bundle or None)
    connector = aiohttp.TCPConnector(limit=connections, ssl=context)
    # IAM tokens travel in a header of several KB.
    session = aiohttp.ClientSession(
        connector=connector,
        max_field_size=65536,
        max_line_size=65536,
        raise_for_status=False,
    )
    # aiohttp silently sends a GET again when a kept-alive connection drops
    # before the answer. That send would bypass the bucket and the retry
    # counters, so it is turned off and the retry is ours. There is no
    # public switch (aio-libs/aiohttp#10790); a test checks it still holds.
    session._retry_connection = False
    return session


def check_transport(
    url: str, allow_plain_http: bool, key: str = "site.base_url"
) -> None:
    """Refuse plain HTTP to anything but loopback unless explicitly allowed.

    Raises:
        ConfigError: the URL is http:// to a non-loopback host.
    """
    parts = urlsplit(url)
    if parts.scheme != "http" or allow_plain_http:
        return
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ConfigError(
            key,
            f"plain http to {host!r} would send the token in clear text; "
            "use https or set site.allow_plain_http = true",
        )


class Client:
    """Sends the site's operations, with budget, auth, retries and counters."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        site: SiteConfig,
        secrets: Secrets,
        buckets: Buckets,
        *,
        attempts: int = 6,
        timeout_s: float = 60.0,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._session = session
        self._site = site
        self._secrets = secrets
        self.buckets = buckets
        self._attempts = attempts
        # Only time on the wire counts: waiting for the bucket or for a
        # pooled connection is no timeout, so neither `total` nor `connect`
        # is set; `sock_read` bounds each wait for bytes from the site.
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=CONNECT_TIMEOUT_S, sock_read=timeout_s
        )
        self._sleep = sleep
        self._clock = clock
        self.tokens = TokenSource(self._issue_token, site, secrets, clock=clock)

    async def call(
        self,
        endpoint: Endpoint,
        *,
        path_params: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        body: Any = None,
    ) -> bytes:
        """The body of a successful answer to one data operation.

        Raises:
            AuthError: the credentials or grants are refused.
            ThrottledError: 429 outlasted every retry.
            TransientError: 5xx or network failures outlasted every retry.
            RequestError: any other refusal (4xx), at once.
        """
        url = self._site.base_url + _fill(endpoint.path, path_params or {})
        refreshed = False
        answer = None
        for attempt in range(self._attempts):
            answer = await self._attempt(endpoint, url, query, body, authenticated=True)
            if not answer.status or _transient(answer):
                await self._retry(endpoint, attempt, answer)
                continue
            if 200 <= answer.status < 300:
                self.tokens.accepted(answer.token)
                return answer.body
            code, message = error_of(answer.body)
            if answer.status == 401 and code in TOKEN_CODES:
                refreshed = self._renew(endpoint, answer, code, refreshed, message)
                continue
            if answer.status == 429:
                self._throttled(endpoint, attempt, answer)
                continue
            raise _refusal(endpoint, answer.status, code, message)
        raise self._exhausted(endpoint, answer)

    def _renew(
        self,
        endpoint: Endpoint,
        answer: Answer,
        code: str,
        refreshed: bool,
        message: str,
    ) -> bool:
        """Renew a refused token; whether this request has spent its renewal.

        A token renewed while the request waited is simply retried. One the
        site took before and now refuses has gone stale and is renewed. One
        refused since it was issued means the credentials or grants are
        wrong: renewed once, then the run fails.
        """
        if not self.tokens.is_current(answer.token):
            return refreshed
        if self.tokens.went_stale(answer.token):
            log.warning("%s: token went stale (%s), renewing", endpoint.name, code)
            self.tokens.invalidate(answer.token)
            return refreshed
        if refreshed:
            raise AuthError(answer.status, code, message)
        log.warning("%s: token refused (%s), renewing", endpoint.name, code)
        self.tokens.invalidate(answer.token)
        return True

    async def _issue_token(self, request: dict[str, Any]) -> tuple[bytes, str]:
        base = self._site.iam_url or self._site.base_url
        url = base + catalog.IAM_TOKEN.path
        answer = None
        for attempt in range(self._attempts):
            answer = await self._attempt(catalog.IAM_TOKEN, url, None, request)
            if not answer.status or _transient(answer) or answer.status == 429:
                await self._retry(catalog.IAM_TOKEN, attempt, answer)
                continue
            token = answer.headers.get("X-Subject-Token", "")
            if answer.status in (200, 201) and token:
                return answer.body, token
            code, message = error_of(answer.body)
            if answer.status in (401, 403):
                raise AuthError(answer.status, code, message)
            raise RequestError(catalog.IAM_TOKEN.name, answer.status, code, message)
        self._bucket(catalog.IAM_TOKEN).counters.failures += 1
        cause = answer.problem if answer and answer.problem else _shown(answer)
        raise UnreachableError(url, f"{cause}, {self._attempts} attempts")

    async def _attempt(
        self,
        endpoint: Endpoint,
        url: str,
        query: Mapping[str, str] | None,
        body: Any,
        *,
        authenticated: bool = False,
    ) -> Answer:
        bucket = self._bucket(endpoint)
        data = orjson.dumps(body) if body is not None else None
        # The budget counts a grant as sent at once, so nothing slow may
        # come between them: the token is had first. One renewed while the
        # grant was awaited is swapped for the current one, at hand but for
        # the rare token the gateway refused meanwhile.
        token = await self.tokens.token() if authenticated else None
        async with bucket.slot():
            if authenticated and not self.tokens.is_current(token):
                token = await self.tokens.token()
            sent = time.perf_counter()
            try:
                async with self._session.request(
                    endpoint.method,
                    url,
                    params=query,
                    data=data,
                    headers=self._headers(token),
                    timeout=self._timeout,
                    # A redirect could carry the token to another host.
                    allow_redirects=False,
                ) as response:
                    payload = await response.read()
                    self.buckets.observe(bucket.path, time.perf_counter() - sent)
                    log.debug(
                        "%s %s -> %d, %d bytes",
                        endpoint.method,
                        endpoint.name,
                        response.status,
                        len(payload),
                    )
                    return Answer(response.status, payload, response.headers, token)
            except (aiohttp.ClientError, TimeoutError) as error:
                problem = _describe(error)
                log.warning("%s: %s", endpoint.name, problem)
                return Answer(0, b"", {}, token, problem)

    def _headers(self, token: str | None) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token is not None:
            headers["X-Auth-Token"] = token
            headers["X-APIG-Appcode"] = self._secrets.app_code
            headers["x-hcso-appcode"] = self._secrets.app_code
            if self._site.hcso_online:
                headers["x-hcso-domainid"] = self._site.domain_id
        return headers

    async def _retry(self, endpoint: Endpoint, attempt: int, answer: Answer) -> None:
        bucket = self._bucket(endpoint)
        bucket.counters.retries += 1
        delay = backoff(attempt)
        what = _shown(answer)
        log.warning(
            "%s: %s, retry %d in %.2f s",
            endpoint.name,
            what,
            attempt + 1,
            delay,
            extra=logs.event(
                "request.retry",
                bucket=endpoint.bucket,
                endpoint=endpoint.name,
                attempt=attempt + 1,
                delay_s=round(delay, 3),
            ),
        )
        await self._sleep(delay)

    def _throttled(self, endpoint: Endpoint, attempt: int, answer: Answer) -> None:
        bucket = self._bucket(endpoint)
        bucket.counters.throttled += 1
        bucket.counters.retries += 1
        delay = retry_after(answer.headers, self._clock())
        if delay is None:
            delay = backoff(attempt, base=1.0)
        log.warning(
            "%s: 429 throttled, bucket paused %.2f s",
            endpoint.name,
            delay,
            extra=logs.event(
                "request.throttled",
                bucket=endpoint.bucket,
                endpoint=endpoint.name,
                pause_s=round(delay, 3),
            ),
        )
        bucket.back_off(delay)

    def _exhausted(self, endpoint: Endpoint, answer: Answer | None) -> RequestError:
        self._bucket(endpoint).counters.failures += 1
        message = f"gave up after {self._attempts} attempts, last: {_shown(answer)}"
        if answer is not None and answer.status == 429:
            return ThrottledError(endpoint.name, 429, "APIG.0308", message)
        return TransientError(endpoint.name, None, "retries spent", message)

    def _bucket(self, endpoint: Endpoint) -> Bucket:
        sla = endpoint.sla
        return self.buckets.get(endpoint.bucket, sla.limit, sla.period)


def backoff(attempt: int, base: float = BACKOFF_BASE_S) -> float:
    """Exponential backoff with jitter, capped, for retry number `attempt`."""
    ceiling = min(BACKOFF_CAP_S, base * 2**attempt)
    return ceiling * (0.5 + random.random() / 2)


def retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds a `Retry-After` header asks for (seconds or HTTP date)."""
    value = headers.get("Retry-After")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError):
        return None


def error_of(body: bytes) -> tuple[str, str]:
    """Error code and message from any of the three error shapes, or text.

    Gateway and services answer `{"error_code", "error_msg"}`; IAM answers
    `{"error": {"code", "message", "title"}}`.
    """
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "", body[:200].decode("utf-8", "replace").strip()
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        error = data["error"]
        return str(error.get("code", "")), str(error.get("message", ""))
    if isinstance(data, dict) and "error_code" in data:
        return str(data["error_code"]), str(data.get("error_msg", ""))
    return "", body[:200].decode("utf-8", "replace").strip()


def _transient(answer: Answer) -> bool:
    if answer.status in TRANSIENT_STATUS:
        return True
    return answer.status >= 400 and error_of(answer.body)[0] in TRANSIENT_CODES


def _refusal(endpoint: Endpoint, status: int, code: str, message: str) -> Exception:
    if status in (401, 403):
        return AuthError(status, code, _auth_hint(status, code, message))
    if status == 404 and code == "APIG.0101":
        message += " (check the path spelling and method in the catalog)"
    return RequestError(endpoint.name, status, code, message)


def _auth_hint(status: int, code: str, message: str) -> str:
    hints = {
        "APIG.0303": "the app code is wrong or missing",
        "APIG.0302": "the IAM user has no grant for this API",
        "APIG.0304": "the app has no grant for this API",
        "APIG.0306": "access to this API is denied",
    }
    hint = hints.get(code)
    return f"{message} ({hint})" if hint else message


def _fill(template: str, values: Mapping[str, str]) -> str:
    return template.format_map({k: quote(v, safe="") for k, v in values.items()})


def _shown(answer: Answer | None) -> str:
    if answer is None:
        return "no attempt"
    return answer.problem or f"HTTP {answer.status}"


def _describe(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "timed out on the wire"
    return f"{type(error).__name__}: {error}"
