"""IAM tokens and app codes: who may call the data API.

A token's life is tracked on the monotonic clock, so a frozen or moved
wall clock (tests inject one) neither kills nor revives it; `expires_at`
is reported from the wall clock the settings carry.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from multidict import CIMultiDictProxy

# Real IAM tokens are several KB; a harvester must allow such headers.
TOKEN_BYTES = 2600
# Expired tokens are remembered this long, to answer "expired", not "unknown".
REMEMBER_S = 3600.0
APP_CODE_HEADERS = ("X-APIG-Appcode", "x-hcso-appcode")


class TokenState(Enum):
    """What a presented token turned out to be."""

    LIVE = "live"
    UNKNOWN = "unknown"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A new token with its wall-clock issue and expiry times (seconds)."""

    value: str
    issued_at: float
    expires_at: float


class TokenStore:
    """Issues tokens and tells live ones from expired or unknown ones."""

    def __init__(
        self,
        ttl_s: float,
        clock: Callable[[], float],
        *,
        life_s: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl_s = ttl_s
        # `life_s` shorter than the ttl models a token that goes stale early.
        self._life_s = ttl_s if life_s is None else min(life_s, ttl_s)
        self._clock = clock
        self._monotonic = monotonic
        self._deadlines: dict[str, float] = {}

    def issue(self) -> IssuedToken:
        """A fresh random token."""
        now = self._monotonic()
        self._forget_before(now - REMEMBER_S)
        value = "MII" + secrets.token_urlsafe(TOKEN_BYTES)
        self._deadlines[value] = now + self._life_s
        issued_at = self._clock()
        return IssuedToken(value, issued_at, issued_at + self._ttl_s)

    def state(self, value: str | None) -> TokenState:
        """Whether `value` is a live token of this store."""
        deadline = self._deadlines.get(value) if value else None
        if deadline is None:
            return TokenState.UNKNOWN
        if self._monotonic() >= deadline:
            return TokenState.EXPIRED
        return TokenState.LIVE

    def _forget_before(self, horizon: float) -> None:
        stale = [value for value, end in self._deadlines.items() if end < horizon]
        for value in stale:
            del self._deadlines[value]


def app_code_ok(headers: CIMultiDictProxy[str], expected: str | None) -> bool:
    """Whether the request carries an acceptable app code.

    At least one of the two app code headers must be present, and every one
    present must match; with no code configured any non-empty value passes.
    """
    given = [headers.get(name) for name in APP_CODE_HEADERS]
    present = [value for value in given if value is not None]
    if not present:
        return False
    if expected is None:
        return all(present)
    wanted = expected.encode()
    return all(hmac.compare_digest(value.encode(), wanted) for value in present)
