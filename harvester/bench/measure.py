"""What one stream did in one step: counts, errors and latency histograms.

Latency is taken from each request's *scheduled* send time (or from when
it left, if it left early) to the end of its answer, so time a request
spent waiting to leave (the generator was late, or the site was stalled
and connections were busy) counts against it: a slow site cannot hide a
stall by slowing the load down. Only 2xx answers enter the latency
histogram; every other outcome is counted by class. Histograms are
HdrHistograms in microseconds, 3 significant digits.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 600_000_000
DIGITS = 3
PERCENTILES = (50.0, 90.0, 99.0, 99.9)
SPECTRUM = (0.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99)
ERROR_CLASSES = ("timeout", "connection", "429", "4xx", "5xx", "other")


def histogram() -> HdrHistogram:
    """An empty latency histogram in microseconds, 1 us to 10 minutes."""
    return HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)


def record(hist: HdrHistogram, seconds: float) -> None:
    """Add `seconds` to `hist`, clamped into its trackable range."""
    micros = min(max(round(seconds * 1e6), LOWEST_US), HIGHEST_US)
    hist.record_value(micros)


def percentiles_ms(
    hist: HdrHistogram, points: tuple[float, ...] = PERCENTILES
) -> dict[str, float | None]:
    """`{"tp50": ms, ...}` plus `"max"`; None throughout when `hist` is empty."""
    names = [f"tp{point:g}" for point in points] + ["max"]
    if hist.get_total_count() == 0:
        return dict.fromkeys(names, None)
    values = hist.get_percentile_to_value_dict(list(points))
    figures: dict[str, float | None] = {
        f"tp{point:g}": values[point] / 1000 for point in points
    }
    figures["max"] = hist.get_max_value() / 1000
    return figures


def classify(status: int | None, error: str | None) -> str:
    """The outcome class of one request: `ok` or one of ERROR_CLASSES."""
    if error is not None:
        return error
    assert status is not None
    if 200 <= status < 300:
        return "ok"
    if status == 429:
        return "429"
    if 400 <= status < 500:
        return "4xx"
    if status >= 500:
        return "5xx"
    return "other"


@dataclass(slots=True)
class Series:
    """Per time bin: answers, failures, latency sum and maximum (seconds)."""

    bin_s: float
    ok: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    latency_sum: list[float] = field(default_factory=list)
    latency_max: list[float] = field(default_factory=list)

    def add(self, at_s: float, latency_s: float | None) -> None:
        """Count one outcome `at_s` seconds into the step (None: a failure)."""
        index = max(0, math.floor(at_s / self.bin_s))
        while len(self.ok) <= index:
            for column in (self.ok, self.failed):
                column.append(0)
            self.latency_sum.append(0.0)
            self.latency_max.append(0.0)
        if latency_s is None:
            self.failed[index] += 1
            return
        self.ok[index] += 1
        self.latency_sum[index] += latency_s
        self.latency_max[index] = max(self.latency_max[index], latency_s)


@dataclass(slots=True)
class StreamMeasure:
    """Every figure of one stream in one step; times are step-relative seconds."""

    stream: str
    bucket: str
    bin_s: float
    scheduled: int = 0
    sent: int = 0
    completed: int = 0
    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latency: HdrHistogram = field(default_factory=histogram)
    lag: HdrHistogram = field(default_factory=histogram)
    last_ok_s: float = 0.0
    by_schedule: Series = field(init=False)
    by_completion: Series = field(init=False)

    def __post_init__(self) -> None:
        self.by_schedule = Series(self.bin_s)
        self.by_completion = Series(self.bin_s)

    def left(self, scheduled_s: float, sent_s: float) -> None:
        """A request left `sent_s - scheduled_s` seconds after its slot."""
        self.sent += 1
        record(self.lag, max(0.0, sent_s - scheduled_s))

    def answered(self, scheduled_s: float, done_s: float, outcome: str) -> None:
        """A request that left at `scheduled_s` ended at `done_s` as `outcome`.

        `scheduled_s` is its slot, or when it left if that was earlier.
        """
        if outcome in ("ok", "429", "4xx", "5xx", "other"):
            self.completed += 1
        if outcome != "ok":
            self.errors[outcome] += 1
            self.by_schedule.add(scheduled_s, None)
            self.by_completion.add(done_s, None)
            return
        latency = done_s - scheduled_s
        self.ok += 1
        self.last_ok_s = max(self.last_ok_s, done_s)
        record(self.latency, latency)
        self.by_schedule.add(scheduled_s, latency)
        self.by_completion.add(done_s, latency)

    @property
    def success_rate(self) -> float | None:
        """2xx answers over requests scheduled; None if none were."""
        return self.ok / self.scheduled if self.scheduled else None

    def figures(self) -> dict[str, Any]:
        """Counts, errors, percentiles and spectrum, ready for JSON."""
        spectrum = percentiles_ms(self.latency, SPECTRUM)
        return {
            "stream": self.stream,
            "bucket": self.bucket,
            "scheduled": self.scheduled,
            "sent": self.sent,
            "completed": self.completed,
            "ok": self.ok,
            "success_rate": self.success_rate,
            "errors": {name: self.errors.get(name, 0) for name in ERROR_CLASSES},
            "latency_ms": percentiles_ms(self.latency),
            "mean_latency_ms": _mean_ms(self.latency),
            "lag_ms": percentiles_ms(self.lag),
            "spectrum_ms": [[point, spectrum[f"tp{point:g}"]] for point in SPECTRUM],
        }


def _mean_ms(hist: HdrHistogram) -> float | None:
    if hist.get_total_count() == 0:
        return None
    return float(hist.get_mean_value()) / 1000
