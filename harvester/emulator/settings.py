"""The emulator's settings: one frozen value, checked when built."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from harvester.catalog import ENDPOINTS
from harvester.emulator.faults import FaultPlan
from harvester.emulator.latency import LatencyModel

SCALES = ("demo", "large")
OFFSET_UNITS = ("records", "pages")
WINDOW_ENDS = ("exclusive", "inclusive")
BUCKETS = frozenset(endpoint.bucket for endpoint in ENDPOINTS)


@dataclass(frozen=True, slots=True)
class EmulatorSettings:
    """How the emulated site behaves.

    `password` and `app_code` left as None mean open auth: any non-empty
    value is accepted. `limits` overrides a bucket's (limit, period in
    seconds) by its path template; `latency` gives a bucket's answers a
    latency model. `clock` is the wall clock in seconds;
    data exists only up to its now.

    Raises:
        ValueError: a field is outside its documented choices.
    """

    seed: int = 7
    scale: str = "demo"
    faults: str = "none"
    token_ttl_s: float = 86400.0
    password: str | None = field(default=None, repr=False)
    app_code: str | None = field(default=None, repr=False)
    offset_unit: str = "records"
    window_end: str = "exclusive"
    limits: Mapping[str, tuple[int, float]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    sdr_job_seconds: float = 3.0
    latency: Mapping[str, LatencyModel] = field(
        default_factory=lambda: MappingProxyType({})
    )
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        _choose("scale", self.scale, SCALES)
        _choose("offset_unit", self.offset_unit, OFFSET_UNITS)
        _choose("window_end", self.window_end, WINDOW_ENDS)
        FaultPlan.parse(self.faults)
        if self.token_ttl_s <= 0:
            raise ValueError(f"token_ttl_s must be > 0, got {self.token_ttl_s!r}")
        if self.sdr_job_seconds < 0:
            raise ValueError(
                f"sdr_job_seconds must be >= 0, got {self.sdr_job_seconds!r}"
            )
        for bucket, (limit, period) in self.limits.items():
            _check_limit(bucket, limit, period)
        for bucket in self.latency:
            if bucket not in BUCKETS:
                raise ValueError(f"no bucket has the path {bucket!r}")

    @property
    def fault_plan(self) -> FaultPlan:
        """The faults this profile switches on."""
        return FaultPlan.parse(self.faults)


def _choose(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def _check_limit(bucket: str, limit: int, period: float) -> None:
    if bucket not in BUCKETS:
        raise ValueError(f"no bucket has the path {bucket!r}")
    if limit < 1 or period <= 0:
        raise ValueError(
            f"limit for {bucket} must be >= 1 per > 0 s, got {limit} per {period}"
        )
