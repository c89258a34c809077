"""Rates per bucket: parsing, the default margin, sharing and the limit."""

from __future__ import annotations

import pytest

from harvester import catalog
from harvester.bench.rates import RateSpec, bucket_loads, parse_rates
from harvester.config import BucketConfig
from harvester.errors import ConfigError


def test_rates_read_as_per_second_or_percent() -> None:
    assert parse_rates(None, None) == [RateSpec(100.0, True)]
    assert parse_rates("250", None) == [RateSpec(250.0, False)]
    assert parse_rates(None, "10%,50%,3000") == [
        RateSpec(10.0, True),
        RateSpec(50.0, True),
        RateSpec(3000.0, False),
    ]


@pytest.mark.parametrize(
    ("rate", "steps"), [("fast", None), ("0", None), (None, "10,,20"), ("1", "2")]
)
def test_bad_rates_are_refused(rate: str | None, steps: str | None) -> None:
    with pytest.raises(ConfigError):
        parse_rates(rate, steps)


def test_full_rate_is_the_limit_less_the_arrival_margin() -> None:
    streams = [catalog.stream("elbv3"), catalog.stream("audit_logs")]
    loads = bucket_loads(streams, RateSpec(100, True), {}, over_limit=False)
    rates = {load.bucket: load.rate for load in loads}
    assert rates[catalog.ELBV3.bucket] == pytest.approx(4000 / 1.025)
    assert rates[catalog.AUDIT_LOGS.bucket] == pytest.approx(1 / 1.01)
    assert not any(load.over_limit for load in loads)


def test_streams_of_one_bucket_share_its_rate() -> None:
    streams = [catalog.stream("service_capacity.evs"), catalog.stream("host_details")]
    streams.append(catalog.stream("service_capacity.eip"))
    loads = bucket_loads(streams, RateSpec(50, True), {}, over_limit=False)
    shared = next(load for load in loads if len(load.streams) == 2)
    assert {s.name for s in shared.streams} == {
        "service_capacity.evs",
        "service_capacity.eip",
    }
    assert len(loads) == 2


def test_past_the_limit_needs_the_flag() -> None:
    streams = [catalog.stream("audit_logs")]
    with pytest.raises(ConfigError, match="--over-limit"):
        bucket_loads(streams, RateSpec(2, False), {}, over_limit=False)
    (load,) = bucket_loads(streams, RateSpec(2, False), {}, over_limit=True)
    assert load.over_limit and load.rate == 2


def test_a_configured_budget_and_a_ceiling_bound_the_rate() -> None:
    streams = [catalog.stream("elbv3")]
    budget = {catalog.ELBV3.bucket: BucketConfig(100, 1.0)}
    (load,) = bucket_loads(streams, RateSpec(100, True), budget, over_limit=False)
    assert (load.limit, load.rate) == (100, pytest.approx(100 / 1.025))
    (capped,) = bucket_loads(
        streams, RateSpec(100, True), {}, over_limit=False, ceiling=500
    )
    assert capped.rate == 500
