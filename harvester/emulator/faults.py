"""Fault profiles: seeded, reproducible misbehaviour of the emulated site.

A profile name, or several joined by commas (`flaky,slow`), switches on
the faults below. Each data call draws its faults from a hash of the seed
and the call's sequence number, so a rerun with the same seed and the same
request order meets the same faults. Admin routes never get faults.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from harvester.emulator.errors import gateway_error
from harvester.emulator.hashing import mix, salt, unit

# profile -> what it does; the text feeds `--help` and error messages.
PROFILES: dict[str, str] = {
    "none": "no faults",
    "flaky": "about 5% of data calls answer 502, 503 or 504",
    "throttle-storm": "about 10% of data calls get a 429 although under the limit",
    "slow": "every data call is delayed by 50 to 200 ms",
    "drop": "about 3% of data calls: the connection closes without a response",
    "truncated": "about 3% of 200 answers stop short of their Content-Length",
    "expire-tokens": "tokens die 5 s after issue, whatever expires_at says",
    "shifting-total": "about 10% of offset queries report total + 1 after page one",
    "sdr-failure": "the first SDR job for each day range ends in failure",
    "forbidden": "the IAM user has no grant: data calls answer 403 APIG.0302",
}

FLAKY_RATE = 0.05
STORM_RATE = 0.10
DROP_RATE = 0.03
TRUNCATE_RATE = 0.03
SHIFT_RATE = 0.10
SLOW_MIN_S = 0.05
SLOW_MAX_S = 0.20
EXPIRED_TOKEN_TTL_S = 5.0


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """The set of faults a profile switches on."""

    names: frozenset[str]

    @classmethod
    def parse(cls, profile: str) -> FaultPlan:
        """Read a profile name or a comma-separated list of them.

        Raises:
            ValueError: a name is not a known profile.
        """
        names = {name.strip() for name in profile.split(",") if name.strip()}
        unknown = sorted(names - PROFILES.keys())
        if unknown or not names:
            known = ", ".join(PROFILES)
            shown = ", ".join(unknown) or repr(profile)
            raise ValueError(f"unknown fault profile {shown}; known: {known}")
        return cls(frozenset(names - {"none"}))

    def __contains__(self, name: object) -> bool:
        return name in self.names


class FaultDice:
    """Per-call draws for the faults of one emulator instance."""

    __slots__ = ("_calls", "_seed")

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._calls = 0

    def next_call(self) -> int:
        """Number the next data call; its draws depend on this number."""
        self._calls += 1
        return self._calls

    def roll(self, call: int, fault: str) -> float:
        """A uniform draw in [0, 1) for one fault on one call."""
        return unit(mix(self._seed, salt(fault), call))

    def hits(self, call: int, fault: str, rate: float) -> bool:
        """Whether `fault`, switched on at `rate`, strikes this call."""
        return self.roll(call, fault) < rate


def flaky_response(draw: float) -> web.Response:
    """A transient gateway failure: 502 as plain text, 503 or 504 as APIG."""
    if draw < 1 / 3:
        return web.Response(
            status=502, text="502 Bad Gateway", content_type="text/plain"
        )
    if draw < 2 / 3:
        return gateway_error(503, "APIG.0613", "The backend service is unavailable")
    return gateway_error(504, "APIG.0610", "The backend service timed out")


def drop(request: web.Request) -> web.Response:
    """Close the connection without answering.

    The returned response is never sent; aiohttp needs one to finish.
    """
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=499)


async def truncate(
    request: web.Request, response: web.Response, draw: float
) -> web.StreamResponse:
    """Send a response's headers and only part of its body, then close."""
    body = bytes(response.body or b"")
    cut = int(len(body) * (0.1 + 0.8 * draw))
    partial = web.StreamResponse(status=response.status, headers=response.headers)
    partial.content_length = len(body)
    await partial.prepare(request)
    await partial.write(body[:cut])
    if request.transport is not None:
        request.transport.close()
    return partial
