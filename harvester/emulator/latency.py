"""Latency models: how long the emulated site takes to answer, per bucket.

A model is a log-normal fitted to two percentiles (TP50 and TP99.9), with
an optional heavy tail (a share of requests waits longer still, by a
Pareto-distributed amount) and optional periodic stalls (the bucket
answers nothing for a while, as a server in a long GC pause would).

Specs, as `--latency` and `ESM_EMULATOR_LATENCY` take them:

    within-sla                    every documented bucket well inside its SLA
    over-sla                      every documented bucket at twice its SLA
    *=tp50:20ms,tp999:50ms        every bucket
    /v1/host/detail=tp50:2ms,tp999:5ms,tail:1%@50ms,stall:1s@every10s

A stall `S@everyP` holds the last S seconds of every P seconds since the
emulator started: a request arriving then is answered when the stall
ends, plus its usual latency.

Draws follow golden-ratio (Weyl) sequences from a seeded start, one per
bucket, instead of independent random numbers: any run of N requests then
covers the distribution as evenly as N draws can, so a short benchmark
meets the model's percentiles closely, where random draws would need
about ten times as many requests for the same precision at TP99.9.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from statistics import NormalDist

from harvester.catalog import ENDPOINTS
from harvester.emulator.hashing import mix, salt, unit

Z999 = NormalDist().inv_cdf(0.999)
GOLDEN = (math.sqrt(5) - 1) / 2
SILVER = math.sqrt(2) - 1
PARETO_ALPHA = 2.0
TAIL_CAP = 100.0
HALF_TICK_S = 0.0005
# Named models: factors applied to each documented bucket's TP50 and TP99.9.
NAMED: Mapping[str, tuple[float, float]] = {
    "within-sla": (0.25, 0.4),
    "over-sla": (2.0, 2.0),
}
ENV = "ESM_EMULATOR_LATENCY"

_DURATION = re.compile(r"(?P<value>\d+(?:\.\d+)?)(?P<unit>us|ms|s)")
_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}
_TAIL = re.compile(r"(?P<share>\d+(?:\.\d+)?)%@(?P<scale>\S+)")
_KEYS = frozenset({"tp50", "tp999", "tail", "stall"})
_ITEM = re.compile(r"(?P<key>\w+)\s*[:=]\s*(?P<value>\S+)")
_STALL = re.compile(r"(?P<length>[^@]+)@(?:every)?(?P<every>\S+)")


@dataclass(frozen=True, slots=True)
class Tail:
    """A `share` of requests waits `scale_s` times a Pareto draw (>= 1) more."""

    share: float
    scale_s: float


@dataclass(frozen=True, slots=True)
class Stall:
    """The last `seconds` of every `every_s` seconds, the bucket answers nothing."""

    seconds: float
    every_s: float


@dataclass(frozen=True, slots=True)
class LatencyModel:
    """A log-normal latency through TP50 and TP99.9, with tail and stalls.

    Raises:
        ValueError: a figure is out of range.
    """

    tp50_s: float
    tp999_s: float
    tail: Tail | None = None
    stall: Stall | None = None

    def __post_init__(self) -> None:
        if not 0 < self.tp50_s <= self.tp999_s:
            raise ValueError("latency wants 0 < tp50 <= tp999")
        if self.tail and not (0 < self.tail.share < 1 and self.tail.scale_s > 0):
            raise ValueError("a tail wants a share in (0, 100)% and a scale > 0")
        if self.stall and not 0 < self.stall.seconds < self.stall.every_s:
            raise ValueError("a stall must be shorter than its period, and > 0")

    @property
    def sigma(self) -> float:
        """The log-normal's shape, fitted so TP99.9 lands where asked."""
        return math.log(self.tp999_s / self.tp50_s) / Z999

    def body(self, draw: float) -> float:
        """The log-normal latency at quantile `draw` in (0, 1), in seconds."""
        draw = min(max(draw, 1e-12), 1 - 1e-12)
        return self.tp50_s * math.exp(self.sigma * NormalDist().inv_cdf(draw))

    def extra(self, draw: float) -> float:
        """The tail's extra seconds for a tail draw in [0, 1): 0 outside it."""
        if self.tail is None or draw >= self.tail.share:
            return 0.0
        within = draw / self.tail.share
        factor = min((1 - within) ** (-1 / PARETO_ALPHA), TAIL_CAP)
        return self.tail.scale_s * factor

    def stalled_until(self, since_start: float) -> float:
        """When a request arriving `since_start` seconds in may be answered."""
        if self.stall is None:
            return since_start
        period = self.stall.every_s
        cycle = math.floor(since_start / period)
        if since_start - cycle * period >= period - self.stall.seconds:
            return (cycle + 1) * period
        return since_start


class Latency:
    """The latency plan of one emulator: a model and draw sequence per bucket."""

    def __init__(
        self,
        models: Mapping[str, LatencyModel],
        seed: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._models = dict(models)
        self._clock = clock
        self._started = clock()
        self._draws = dict.fromkeys(self._models, 0)
        self._start = unit(mix(seed, salt("latency")))
        self._tail_start = unit(mix(seed, salt("latency-tail")))

    def __bool__(self) -> bool:
        return bool(self._models)

    def due(self, bucket: str, arrived: float) -> float | None:
        """The monotonic time to answer a request that arrived at `arrived`."""
        model = self._models.get(bucket)
        if model is None:
            return None
        count = self._draws[bucket] = self._draws[bucket] + 1
        draw = (self._start + count * GOLDEN) % 1.0
        tail = (self._tail_start + count * SILVER) % 1.0
        begin = self._started + model.stalled_until(arrived - self._started)
        return begin + model.body(draw) + model.extra(tail)

    async def hold(self, bucket: str, arrived: float) -> None:
        """Wait until the answer to a request of `bucket` is due."""
        due = self.due(bucket, arrived)
        if due is not None:
            # asyncio timers fire on millisecond ticks, up to a tick late:
            # aiming half a tick early centres the error on the model.
            wait = due - self._clock() - HALF_TICK_S
            if wait > 0:
                await asyncio.sleep(wait)


def parse_latency(texts: Iterable[str]) -> dict[str, LatencyModel]:
    """Latency models by bucket from specs (see the module docstring).

    Later specs override earlier ones for the buckets they name.

    Raises:
        ValueError: a spec is malformed or names no bucket.
    """
    models: dict[str, LatencyModel] = {}
    for text in texts:
        text = text.strip()
        if text in NAMED:
            models.update(_named(*NAMED[text]))
            continue
        target, sep, spec = text.partition("=")
        if not sep or not target:
            raise ValueError(
                f"--latency wants NAME or BUCKET=tp50:D,tp999:D[,...], got {text!r}; "
                f"names: {', '.join(NAMED)}"
            )
        model = _model(spec)
        buckets = {e.bucket for e in ENDPOINTS} if target == "*" else {target}
        models.update(dict.fromkeys(buckets, model))
    return models


def from_environment(value: str | None) -> list[str]:
    """Specs from `ESM_EMULATOR_LATENCY`: several are joined by `;`."""
    return [part for part in (value or "").split(";") if part.strip()]


def seconds(text: str) -> float:
    """Seconds in a duration such as `500us`, `20ms` or `1.5s`.

    Raises:
        ValueError: `text` is not such a duration.
    """
    found = _DURATION.fullmatch(text.strip())
    if found is None:
        raise ValueError(f"expected a duration like 20ms or 1s, got {text!r}")
    return float(found["value"]) * _UNITS[found["unit"]]


def _named(tp50_factor: float, tp999_factor: float) -> dict[str, LatencyModel]:
    models = {}
    for endpoint in ENDPOINTS:
        sla = endpoint.sla
        if sla.documented and sla.tp50_ms and sla.tp999_ms:
            models[endpoint.bucket] = LatencyModel(
                sla.tp50_ms * tp50_factor / 1000, sla.tp999_ms * tp999_factor / 1000
            )
    return models


def _model(spec: str) -> LatencyModel:
    items: dict[str, str] = {}
    for item in spec.split(","):
        found = _ITEM.fullmatch(item.strip())
        if found is None:
            raise ValueError(f"a latency item is KEY:VALUE, got {item!r}")
        items[found["key"]] = found["value"]
    if set(items) - _KEYS or not {"tp50", "tp999"} <= set(items):
        raise ValueError(
            f"a latency model wants tp50 and tp999, optionally tail and stall; "
            f"got {spec!r}"
        )
    return LatencyModel(
        seconds(items["tp50"]),
        seconds(items["tp999"]),
        tail=_tail(items["tail"]) if "tail" in items else None,
        stall=_stall(items["stall"]) if "stall" in items else None,
    )


def _tail(text: str) -> Tail:
    found = _TAIL.fullmatch(text)
    if found is None:
        raise ValueError(f"a tail is SHARE%@DURATION, e.g. 1%@50ms; got {text!r}")
    return Tail(float(found["share"]) / 100, seconds(found["scale"]))


def _stall(text: str) -> Stall:
    found = _STALL.fullmatch(text)
    if found is None:
        raise ValueError(f"a stall is LENGTH@everyPERIOD, e.g. 1s@every10s; {text!r}")
    return Stall(seconds(found["length"]), seconds(found["every"]))
