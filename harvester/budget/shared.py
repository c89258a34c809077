"""Each bucket's budget kept in Redis, shared by every run against a site.

Per bucket, Redis keeps a log of leases: a sorted set with one member per
lease, `<tokens>:<lease id>`, scored with the Redis time it was issued,
in microseconds (`TIME`: the clients' clocks never enter it). One Lua
script, loaded once and called by its SHA, trims the log to the counted
span (`leases.counted_span`), adds up the tokens left and issues a lease
of as many as are free, up to those asked for; when none is free it
answers how long until the oldest lease leaves the span. Each write sets
the key to expire a span later, so an idle bucket's key vanishes. Keys
are `esm-harvester:budget:<hash of the site's base URL>:<bucket path>`:
runs against the same site share a bucket, other sites do not.

A Redis call that fails is retried for about four seconds, time for a
restart or a fail-over; then `BudgetError` names the server's host and
port, never its password.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import secrets
from collections.abc import Awaitable
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from harvester import logs
from harvester.budget.leases import LeasedGrants
from harvester.errors import BudgetError
from harvester.limits import GrantsFactory

log = logging.getLogger(__name__)

KEY_PREFIX = "esm-harvester:budget"
# Asked again 0.25, 0.5, 1 and 2 s after a failure.
RETRIES = 4
RETRY_BASE_S = 0.125
RETRY_CAP_S = 2.0
SOCKET_TIMEOUT_S = 2.0

# KEYS[1] the bucket's log; ARGV limit, counted span (us), tokens wanted,
# lease id. Returns {tokens granted, microseconds until one is free}.
LEASE_SCRIPT = """
local log = KEYS[1]
local limit = tonumber(ARGV[1])
local span = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
redis.call('ZREMRANGEBYSCORE', log, '-inf', now - span)
local leases = redis.call('ZRANGE', log, 0, -1, 'WITHSCORES')
local used = 0
for i = 1, #leases, 2 do
  used = used + tonumber(string.match(leases[i], '^%d+'))
end
if used < limit then
  local tokens = math.min(want, limit - used)
  redis.call('ZADD', log, now, tokens .. ':' .. ARGV[4])
  redis.call('PEXPIRE', log, math.ceil(span / 1000))
  return {tokens, 0}
end
local freed = 0
for i = 1, #leases, 2 do
  freed = freed + tonumber(string.match(leases[i], '^%d+'))
  if used - freed < limit then
    return {0, tonumber(leases[i + 1]) + span - now}
  end
end
"""


class SharedBudget:
    """Each bucket's grants leased from Redis, shared by every run of a site.

    `async with budget as grants` connects and yields the grants factory
    `Buckets` takes; leaving it stops every bucket's lease requests and
    closes the connection.
    """

    def __init__(self, url: str, site: str) -> None:
        self.where = _where(url)
        self._url = url
        self._passwords = passwords(url)
        site_hash = hashlib.sha256(site.encode()).hexdigest()[:12]
        self._prefix = f"{KEY_PREFIX}:{site_hash}:"
        self._owner = secrets.token_hex(6)
        self._ids = itertools.count()
        self._redis: redis.asyncio.Redis | None = None
        self._script: AsyncScript | None = None
        self._buckets: list[LeasedGrants] = []

    def grants(self, path: str, limit: int, period: float) -> LeasedGrants:
        """The grants of one bucket, leased from its log in Redis."""
        grants = LeasedGrants(self, self._prefix + path, limit, period)
        self._buckets.append(grants)
        return grants

    async def __aenter__(self) -> GrantsFactory:
        retry = Retry(ExponentialBackoff(cap=RETRY_CAP_S, base=RETRY_BASE_S), RETRIES)
        self._redis = redis.asyncio.Redis.from_url(
            self._url,
            retry=retry,
            socket_timeout=SOCKET_TIMEOUT_S,
            socket_connect_timeout=SOCKET_TIMEOUT_S,
        )
        self._script = self._redis.register_script(LEASE_SCRIPT)
        try:
            await self._call(self._redis.ping())
        except BaseException:
            await self._redis.aclose()
            raise
        log.info("bucket budgets shared through Redis at %s", self.where)
        return self.grants

    async def __aexit__(self, *exc_info: object) -> None:
        for grants in self._buckets:
            await grants.close()
        if self._redis is not None:
            await self._redis.aclose()

    async def lease(
        self, key: str, limit: int, span: float, want: int
    ) -> tuple[int, float]:
        """Tokens of a new lease of up to `want`, or none and seconds to wait.

        Raises:
            BudgetError: Redis failed, and kept failing for a few seconds.
        """
        assert self._script is not None, "lease() outside `async with budget`"
        member = f"{self._owner}:{next(self._ids)}"
        tokens, wait_us = await self._call(
            self._script(keys=[key], args=[limit, round(span * 1e6), want, member])
        )
        return int(tokens), int(wait_us) / 1e6

    async def _call(self, command: Awaitable[Any]) -> Any:
        try:
            return await command
        except RedisError as error:
            first_line = str(error).partition("\n")[0]
            problem = f"{type(error).__name__}: {first_line}"
            for password in self._passwords:
                problem = problem.replace(password, logs.REDACTED)
            raise BudgetError(self.where, problem) from error


def passwords(url: str) -> list[str]:
    """The password a Redis URL holds, as written and as decoded, if any."""
    # In the user info, or in the query of a unix:// URL.
    parts = urlsplit(url)
    found = parse_qs(parts.query).get("password", [])
    if parts.password:
        found += [parts.password, unquote(parts.password)]
    return [password for password in found if password]


def _where(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    host = parts.hostname or "localhost"
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{parts.port or 6379}"
