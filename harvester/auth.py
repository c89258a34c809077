"""IAM tokens: fetched once, shared, renewed before they expire.

A token lasts 24 hours but can go stale earlier (a password or grant
change), so it is renewed a margin before `expires_at` and once more when
the gateway answers 401 for it. Only one renewal runs at a time; callers
that arrive meanwhile wait for it instead of sending their own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import orjson

from harvester.config import Secrets, SiteConfig
from harvester.errors import ResponseError

log = logging.getLogger(__name__)

RENEW_MARGIN_S = 300.0

Post = Callable[[dict[str, Any]], Awaitable[tuple[bytes, str]]]


class TokenSource:
    """Hands out a live IAM token, renewing it when needed."""

    def __init__(
        self,
        post: Post,
        site: SiteConfig,
        secrets: Secrets,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._post = post
        self._site = site
        self._secrets = secrets
        self._clock = clock
        self._token: str | None = None
        self._accepted = False
        self._renew_at = 0.0
        self._lock = asyncio.Lock()
        self.issued = 0

    def __repr__(self) -> str:
        state = "live" if self._token else "none"
        return f"<TokenSource {state} issued={self.issued}>"

    async def token(self) -> str:
        """A token that is not due for renewal."""
        token = self._token
        if token is not None and self._clock() < self._renew_at:
            return token
        async with self._lock:
            if self._token is None or self._clock() >= self._renew_at:
                await self._renew()
            assert self._token is not None
            return self._token

    def is_current(self, token: str | None) -> bool:
        """Whether `token` is the one now handed out."""
        return token is not None and token == self._token

    def accepted(self, token: str | None) -> None:
        """Note that the site took `token`: if refused later, it went stale."""
        if token is not None and token == self._token:
            self._accepted = True

    def went_stale(self, token: str | None) -> bool:
        """Whether the current `token` was accepted before it was refused."""
        return self.is_current(token) and self._accepted

    def invalidate(self, token: str | None) -> None:
        """Forget `token` after the gateway refused it; the next call renews."""
        if self._token == token:
            self._token = None

    async def _renew(self) -> None:
        body, token = await self._post(self._request_body())
        expires_at = _expires_at(body)
        lifetime = expires_at - self._clock()
        self._renew_at = self._clock() + max(
            min(lifetime - RENEW_MARGIN_S, lifetime * 0.9), 0.0
        )
        self._token = token
        self._accepted = False
        self.issued += 1
        log.info("IAM token issued, valid for %.0f s", lifetime)

    def _request_body(self) -> dict[str, Any]:
        site = self._site
        project = (
            {"id": site.project_id} if site.project_id else {"name": site.project_name}
        )
        user = {
            "name": site.username,
            "password": self._secrets.password,
            "domain": {"name": site.domain_name},
        }
        return {
            "auth": {
                "identity": {"methods": ["password"], "password": {"user": user}},
                "scope": {"project": project},
            }
        }


def _expires_at(body: bytes) -> float:
    try:
        text = orjson.loads(body)["token"]["expires_at"]
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise ResponseError(
            "iam.token", "the token response has no usable token.expires_at"
        ) from error
