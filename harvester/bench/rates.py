"""Offered load: which rate each bucket is driven at, checked against its limit.

A rate is asked per bucket, either in requests per second (`250`) or as a
share of the bucket's budget (`50%`); the streams of one bucket share its
rate in turn. `100%`, the default, is the budget less the same 1% margin
the harvester's own buckets keep for requests that reach the site later
than they left, so a benchmark at full rate stays inside the documented
limit in every sliding window as the site counts it. A rate past the
limit is refused unless the caller says `over_limit`. A ceiling caps
every bucket's rate at what the machine driving the load can honestly
send, so that one fast bucket does not starve the measurement of others.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from harvester.catalog import Stream
from harvester.config import BucketConfig
from harvester.errors import ConfigError
from harvester.limits import margin

log = logging.getLogger(__name__)

_RATE = re.compile(r"(?P<value>\d+(?:\.\d+)?)(?P<percent>%?)")


@dataclass(frozen=True, slots=True)
class RateSpec:
    """An asked rate: requests per second, or a percentage of the budget."""

    value: float
    percent: bool

    def __str__(self) -> str:
        return f"{self.value:g}%" if self.percent else f"{self.value:g}/s"

    def per_second(self, limit: int, period: float) -> float:
        """The rate this spec asks of a bucket of `limit` per `period`."""
        if self.percent:
            return self.value / 100 * limit / (period + margin(period))
        return self.value


@dataclass(frozen=True, slots=True)
class BucketLoad:
    """One bucket's offered load in one step, and the budget it answers to.

    `limit` and `period` are the site's budget (the config's, where it
    sets one, else the documented one); `rate` is requests per second.
    """

    bucket: str
    limit: int
    period: float
    rate: float
    streams: tuple[Stream, ...]

    @property
    def limit_rate(self) -> float:
        """The budget as requests per second."""
        return self.limit / self.period

    @property
    def over_limit(self) -> bool:
        """Whether this load asks for more than the budget allows."""
        return self.rate > self.limit_rate * (1 + 1e-9)


def parse_rates(rate: str | None, steps: str | None) -> list[RateSpec]:
    """The rate of each step from `--rate` or `--rate-steps` (default 100%).

    Raises:
        ConfigError: a rate is malformed or zero.
    """
    if rate and steps:
        raise ConfigError("--rate", "give --rate or --rate-steps, not both")
    if steps:
        return [_rate("--rate-steps", text) for text in steps.split(",")]
    return [_rate("--rate", rate or "100%")]


def bucket_loads(
    streams: Iterable[Stream],
    spec: RateSpec,
    budgets: Mapping[str, BucketConfig],
    *,
    over_limit: bool,
    ceiling: float | None = None,
) -> list[BucketLoad]:
    """The load on every bucket the streams use, at `spec`, at most `ceiling`/s.

    Raises:
        ConfigError: a bucket would be driven past its limit and
            `over_limit` is not set.
    """
    grouped: dict[str, list[Stream]] = {}
    for stream in streams:
        grouped.setdefault(stream.bucket, []).append(stream)
    loads = []
    for bucket, members in grouped.items():
        sla = members[0].endpoint.sla
        budget = budgets.get(bucket, BucketConfig(sla.limit, sla.period))
        rate = spec.per_second(budget.limit, budget.period)
        if ceiling is not None:
            rate = min(rate, ceiling)
        load = BucketLoad(bucket, budget.limit, budget.period, rate, tuple(members))
        if load.over_limit:
            if not over_limit:
                raise ConfigError(
                    "--rate",
                    f"{rate:.5g}/s ({spec}) is past the limit of {bucket} "
                    f"({budget.limit} per {budget.period:g} s); "
                    "pass --over-limit to send it anyway",
                )
            log.warning(
                "over the limit: %s at %.4g/s where %d per %g s is allowed",
                bucket,
                rate,
                budget.limit,
                budget.period,
            )
        loads.append(load)
    return loads


def _rate(option: str, text: str) -> RateSpec:
    found = _RATE.fullmatch(text.strip())
    if found is None or float(found["value"]) <= 0:
        raise ConfigError(option, f"expected a rate like 250 or 50%, got {text!r}")
    return RateSpec(float(found["value"]), bool(found["percent"]))
