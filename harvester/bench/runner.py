"""A benchmark run: the site, its set-up, each rate step, and the verdicts.

Everything a harvest would take from the config is taken from it here:
the site and its credentials, the bucket budgets, page sizes, and, with
no `site.base_url`, the built-in emulator started as `harvester run`
starts it. Every input is checked before the first request.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from harvester import catalog
from harvester.bench.generator import Generator, StepRun
from harvester.bench.health import Health, assess
from harvester.bench.probes import build_probes, page_size_for
from harvester.bench.rates import BucketLoad, RateSpec, bucket_loads
from harvester.bench.verdict import Verdict, judge
from harvester.config import RunConfig, Secrets, read_secrets
from harvester.embedded import embedded_site
from harvester.emulator import latency
from harvester.errors import ConfigError
from harvester.fetch import Client, open_session
from harvester.limits import Buckets

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BenchOptions:
    """How hard and how long to drive the site.

    `max_rate` caps every bucket's rate (requests per second);
    `max_requests` bounds each step: a step that would schedule more is
    shortened. `emulator_latency` holds latency specs for the built-in
    emulator and is ignored when the config names a site.
    """

    rates: tuple[RateSpec, ...] = (RateSpec(100.0, True),)
    max_rate: float | None = None
    duration_s: float = 10.0
    max_requests: int = 50_000
    over_limit: bool = False
    page_size: int | None = None
    timeout_s: float = 10.0
    connections: int = 256
    emulator_latency: tuple[str, ...] = ()


@dataclass(slots=True)
class StepResult:
    """One rate step: what was asked, what was measured, what it means."""

    rate: RateSpec
    loads: list[BucketLoad]
    run: StepRun
    health: Health
    verdicts: list[Verdict]


@dataclass(slots=True)
class BenchResult:
    """A whole benchmark run."""

    base_url: str
    embedded: bool
    options: BenchOptions
    streams: tuple[str, ...]
    page_sizes: dict[str, int]
    emulator_latency: tuple[str, ...] = ()
    steps: list[StepResult] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """Whether any SLA item of any step failed."""
        return any(v.failed for step in self.steps for v in step.verdicts)


def benched_streams(config: RunConfig) -> tuple[catalog.Stream, ...]:
    """The streams the config selects; fan-out parents are not pulled in."""
    return tuple(
        stream
        for stream in catalog.STREAMS
        if any(fnmatch.fnmatchcase(stream.name, p) for p in config.streams)
    )


async def bench(config: RunConfig, options: BenchOptions) -> BenchResult:
    """Benchmark the config's site (or the built-in emulator).

    Raises:
        ConfigError: a rate, page size or latency spec is invalid.
        HarvestError: the site could not be set up for the benchmark.
    """
    streams = benched_streams(config)
    steps = [
        bucket_loads(
            streams,
            spec,
            config.buckets,
            over_limit=options.over_limit,
            ceiling=options.max_rate,
        )
        for spec in options.rates
    ]
    page_sizes = {
        s.name: page_size_for(s, options.page_size, _configured(config, s))
        for s in streams
    }
    if not config.site.embedded:
        result = BenchResult(
            config.site.base_url, False, options, _names(streams), page_sizes
        )
        await _run(config, read_secrets(config.site), result, steps)
        return result
    specs = options.emulator_latency
    try:
        latency.parse_latency(specs)
    except ValueError as error:
        raise ConfigError("--emulator-latency", str(error)) from None
    with _emulator_latency(specs):
        async with embedded_site(config) as (site_config, secrets):
            result = BenchResult(
                site_config.site.base_url,
                True,
                options,
                _names(streams),
                page_sizes,
                emulator_latency=specs,
            )
            await _run(site_config, secrets, result, steps)
    return result


async def _run(
    config: RunConfig,
    secrets: Secrets,
    result: BenchResult,
    steps: Sequence[list[BucketLoad]],
) -> None:
    options = result.options
    site = config.site
    overrides = {path: (b.limit, b.period) for path, b in config.buckets.items()}
    async with open_session(site, connections=options.connections) as session:
        client = Client(session, site, secrets, Buckets(overrides))
        token = await client.tokens.token()
        streams = [catalog.stream(name) for name in result.streams]
        probes = await build_probes(
            client, site, streams, result.page_sizes, int(time.time() * 1000)
        )
        generator = Generator(
            session,
            # The very headers a harvest sends: token and app codes.
            client._headers(token),
            connections=options.connections,
            timeout_s=options.timeout_s,
            over_limit=options.over_limit,
        )
        for spec, loads in zip(options.rates, steps, strict=True):
            duration = _bounded(loads, options)
            log.info("step %s: %.3g s over %d bucket(s)", spec, duration, len(loads))
            run = await generator.run(loads, probes, duration)
            result.steps.append(StepResult(spec, loads, run, assess(run), judge(run)))


def _bounded(loads: Sequence[BucketLoad], options: BenchOptions) -> float:
    total = sum(load.rate for load in loads)
    duration = min(options.duration_s, options.max_requests / total)
    if duration < options.duration_s:
        log.warning(
            "step shortened to %.3g s: %.5g/s for %g s is past --max-requests %d",
            duration,
            total,
            options.duration_s,
            options.max_requests,
        )
    return duration


def _configured(config: RunConfig, stream: catalog.Stream) -> int | None:
    settings = config.stream_settings.get(stream.name)
    return settings.page_size if settings else None


def _names(streams: Sequence[catalog.Stream]) -> tuple[str, ...]:
    return tuple(stream.name for stream in streams)


@contextmanager
def _emulator_latency(specs: Sequence[str]) -> Iterator[None]:
    # The built-in emulator takes its options from the config; its latency
    # models reach it through its environment, which it inherits.
    before = os.environ.get(latency.ENV)
    if specs:
        os.environ[latency.ENV] = ";".join(specs)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(latency.ENV, None)
        else:
            os.environ[latency.ENV] = before
