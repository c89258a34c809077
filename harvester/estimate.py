"""`harvester plan`: the requests a run needs and its wall time, sending none.

Per unit, pages = ceil(records / page size). Record counts are unknown
without asking the site, so they come from the latest run in the output
directory (records per unit of the same stream, scaled by window length;
basis "history"), or one page per unit is assumed (basis "one page").
Fan-out partitions come from the same run's checkpoints and manifest; when
there is none, one partition is counted and the output says so. The wall
time is what the busiest bucket needs at its rate (`Bucket.estimate_seconds`),
or an SDR job's polling, whichever is longer.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson

from harvester import catalog, checkpoints, config, manifest, report
from harvester import plan as planner
from harvester.catalog import Paging, Stream
from harvester.checkpoints import CheckpointStore
from harvester.limits import Buckets
from harvester.paging import JOB_POLL_S
from harvester.plan import Plan, Unit

HISTORY, ONE_PAGE, MIXED = "history", "one page", "mixed"
POLLS_PER_JOB = 3
DEFAULT_PAGE_SIZE = 100
# A token is renewed at 90% of its documented 24 h lifetime (auth.py).
TOKEN_RENEW_S = 86_400 * 0.9


@dataclass(frozen=True, slots=True)
class History:
    """What the latest run in an output directory saw, per stream."""

    per_ms: Mapping[str, float] = field(default_factory=dict)
    per_unit: Mapping[str, float] = field(default_factory=dict)
    partitions: Mapping[str, frozenset[str]] = field(default_factory=dict)
    polls_per_job: float | None = None
    completed: frozenset[str] = frozenset()

    @classmethod
    def read(cls, out: Path, store: CheckpointStore | None = None) -> History:
        """The history of `out`; empty when no run has written a manifest."""
        store = store or CheckpointStore(out).load()
        completed = frozenset(store.completed)
        try:
            data = manifest.load(out)
            units = [u for s in data["streams"].values() for u in s["units"]]
            ok = [u for u in units if u["status"] == "ok"]
            return cls(
                per_ms=_records_per_ms(ok),
                per_unit=_records_per_unit(ok),
                partitions=_partitions(units, store),
                polls_per_job=_polls_per_job(data["buckets"]),
                completed=completed,
            )
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError):
            # No manifest, or one this version cannot read: no history.
            return cls(completed=completed)


@dataclass(frozen=True, slots=True)
class StreamEstimate:
    """The units and requests of one stream; `partitions` None if unknown."""

    stream: str
    bucket: str
    units: int
    requests: int
    basis: str
    partitions: int | None = None


@dataclass(frozen=True, slots=True)
class BucketEstimate:
    """The units, requests and time one bucket needs."""

    bucket: str
    limit: int
    period_s: float
    units: int
    requests: int
    seconds: float
    basis: str


@dataclass(frozen=True, slots=True)
class Estimate:
    """A whole run's forecast: per stream, per bucket and its wall time."""

    since: int
    until: int
    streams: tuple[StreamEstimate, ...]
    buckets: tuple[BucketEstimate, ...]
    wall_seconds: float
    busiest: str | None
    skipped_units: int = 0
    notes: tuple[str, ...] = ()

    def requests(self) -> dict[str, int]:
        """Planned requests per bucket path."""
        return {b.bucket: b.requests for b in self.buckets}

    def to_json(self) -> dict[str, Any]:
        """The forecast as a JSON-ready mapping."""
        return {**asdict(self), "wall_seconds": round(self.wall_seconds, 3)}


def forecast(settings: config.RunConfig, out: Path, now_ms: int) -> Estimate:
    """The forecast of running `settings` into `out` at `now_ms`.

    Reads the output directory; writes nothing and sends nothing.
    """
    store = CheckpointStore(out).load()
    plan = planner.build(settings, now_ms, store.last_end)
    notes = []
    state = checkpoints.read_state(out)
    if state and not state.complete and set(state.spans) == set(plan.spans):
        spans = {name: (span[0], span[1]) for name, span in state.spans.items()}
        plan = replace(plan, spans=spans)
        notes.append(f"{out} holds an unfinished run: its span is taken up again")
    result = estimate(plan, settings, History.read(out, store))
    return replace(result, notes=(*notes, *result.notes))


def estimate(plan: Plan, settings: config.RunConfig, history: History) -> Estimate:
    """What `plan` needs per stream and bucket, given what `history` saw."""
    streams: list[StreamEstimate] = []
    jobs = skipped = 0
    discovery = list(plan.discovery(settings.discovery_ms))
    for stream in plan.streams:
        units = _units(plan, stream, history)
        todo = [u for u in units if u.window is None or u.key not in history.completed]
        skipped += len(units) - len(todo)
        todo += [u for u in discovery if u.stream == stream]
        streams.append(_stream(stream, todo, settings, history))
        if stream.endpoint.paging is Paging.JOB:
            jobs += len(todo)
    buckets = Buckets({p: (b.limit, b.period) for p, b in settings.buckets.items()})
    rows = _bucket_rows(streams, buckets)
    rows += _job_rows(jobs, history, buckets)
    wall = max((r.seconds for r in rows), default=0.0)
    if jobs:
        wall = max(wall, _job_wait(history))
    rows += _token_rows(rows, wall, buckets)
    busiest = max(rows, key=lambda r: r.seconds).bucket if rows else None
    notes = tuple(
        f"{s.stream}: partitions unknown until {catalog.stream(s.stream).parent} "
        "is read; one counted"
        for s in streams
        if catalog.stream(s.stream).parent and s.partitions is None
    )
    return Estimate(
        plan.since,
        plan.until,
        tuple(streams),
        tuple(sorted(rows, key=lambda r: (-r.seconds, -r.requests, r.bucket))),
        wall,
        busiest,
        skipped,
        notes,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of `harvester plan` to `parser`."""
    parser.add_argument(
        "-c", "--config", required=True, type=Path, help="TOML config file"
    )
    parser.add_argument("--out", type=Path, help="output directory (default: run.out)")
    parser.add_argument("--since", help="start: ISO-8601, epoch ms or '-1d'")
    parser.add_argument("--until", help="end (exclusive): ISO-8601, epoch ms or 'now'")
    parser.add_argument(
        "--streams", nargs="+", metavar="NAME", help="stream names or glob patterns"
    )
    parser.add_argument("--json", action="store_true", help="the forecast as JSON")


def main(args: argparse.Namespace) -> int:
    """Print the forecast of a run; 0, or ConfigError on bad input."""
    settings = config.with_overrides(
        config.load(args.config),
        since=args.since,
        until=args.until,
        streams=args.streams,
        out=str(args.out) if args.out else None,
    )
    result = forecast(settings, Path(settings.out).resolve(), int(time.time() * 1000))
    if args.json:
        data = orjson.dumps(result.to_json(), option=orjson.OPT_INDENT_2)
        sys.stdout.buffer.write(data + b"\n")
    else:
        print(render(result))
    return 0


def render(result: Estimate) -> str:
    """The forecast as a text table and a verdict."""
    rows = [
        {
            "bucket": b.bucket,
            "units": b.units,
            "requests": b.requests,
            "budget": f"{b.limit}/{b.period_s:g}s",
            "seconds": f"{b.seconds:.1f}",
            "basis": b.basis,
        }
        for b in result.buckets
    ]
    lines = [report.table(rows), ""]
    lines += [f"note: {note}" for note in result.notes]
    if result.skipped_units:
        lines.append(f"{result.skipped_units} units already done are skipped")
    lines.append(
        f"estimated wall time: {result.wall_seconds:.1f} s "
        f"(busiest bucket: {result.busiest or '-'}); no request was sent"
    )
    return "\n".join(lines)


def _units(plan: Plan, stream: Stream, history: History) -> list[Unit]:
    if stream.parent is None:
        return [Unit(stream, None, w) for w in plan.windows(stream)]
    named = history.partitions.get(stream.parent)
    values = sorted(named) if named else [None]
    return [Unit(stream, v, w) for v in values for w in plan.windows(stream)]


def _stream(
    stream: Stream,
    units: list[Unit],
    settings: config.RunConfig,
    history: History,
) -> StreamEstimate:
    size = _page_size(settings, stream)
    known = stream.name in history.per_ms or stream.name in history.per_unit
    pages = sum(_pages(stream, unit, history, size) for unit in units)
    partitions = None
    if stream.parent is not None and stream.parent in history.partitions:
        partitions = len(history.partitions[stream.parent])
    return StreamEstimate(
        stream.name,
        stream.bucket,
        len(units),
        pages,
        HISTORY if known else ONE_PAGE,
        partitions,
    )


def _pages(stream: Stream, unit: Unit, history: History, size: int) -> int:
    if stream.endpoint.paging is Paging.NONE:
        return 1
    if unit.window is not None and stream.name in history.per_ms:
        length = unit.window.end - unit.window.begin
        records = history.per_ms[stream.name] * length
    elif stream.name in history.per_unit:
        records = history.per_unit[stream.name]
    else:
        return 1
    return max(1, math.ceil(round(records, 6) / size))


def _page_size(settings: config.RunConfig, stream: Stream) -> int:
    override = settings.stream_settings.get(stream.name)
    if override and override.page_size:
        return override.page_size
    return stream.page_size or DEFAULT_PAGE_SIZE


def _bucket_rows(
    streams: Iterable[StreamEstimate], buckets: Buckets
) -> list[BucketEstimate]:
    grouped: dict[str, list[StreamEstimate]] = defaultdict(list)
    for row in streams:
        grouped[row.bucket].append(row)
    rows = []
    for path, members in grouped.items():
        units = sum(m.units for m in members)
        requests = sum(m.requests for m in members)
        bases = {m.basis for m in members if m.units}
        basis = bases.pop() if len(bases) == 1 else (MIXED if bases else "-")
        rows.append(_row(buckets, path, units, requests, basis))
    return rows


def _job_rows(jobs: int, history: History, buckets: Buckets) -> list[BucketEstimate]:
    if not jobs:
        return []
    polls = history.polls_per_job
    basis = HISTORY if polls is not None else f"{POLLS_PER_JOB} polls a job"
    polls = polls if polls is not None else POLLS_PER_JOB
    # The units are counted on the data bucket; these buckets serve them.
    return [
        _row(buckets, catalog.SDR_CREATE_JOB.bucket, 0, jobs, "one a job"),
        _row(buckets, catalog.SDR_JOB_STATUS.bucket, 0, math.ceil(jobs * polls), basis),
    ]


def _token_rows(
    rows: list[BucketEstimate], wall: float, buckets: Buckets
) -> list[BucketEstimate]:
    if not any(r.requests for r in rows):
        return []
    tokens = 1 + int(wall // TOKEN_RENEW_S)
    return [_row(buckets, catalog.IAM_TOKEN.bucket, 0, tokens, "one a day")]


def _row(
    buckets: Buckets, path: str, units: int, requests: int, basis: str
) -> BucketEstimate:
    sla = _sla(path)
    bucket = buckets.get(path, sla.limit, sla.period)
    seconds = bucket.estimate_seconds(requests)
    return BucketEstimate(
        path, bucket.limit, bucket.period, units, requests, seconds, basis
    )


def _sla(path: str) -> catalog.Sla:
    return next(e.sla for e in catalog.ENDPOINTS if e.bucket == path)


def _job_wait(history: History) -> float:
    # A job is polled, then waited on for 1, 2, 4, 8, 8... s between polls.
    polls = math.ceil(history.polls_per_job or POLLS_PER_JOB)
    delays = [*JOB_POLL_S, *[JOB_POLL_S[-1]] * max(0, polls - len(JOB_POLL_S))]
    return sum(delays[: max(0, polls - 1)])


def _records_per_ms(units: list[dict[str, Any]]) -> dict[str, float]:
    records: dict[str, int] = defaultdict(int)
    lengths: dict[str, int] = defaultdict(int)
    for unit in units:
        if unit["window"] and unit["window"][1] > unit["window"][0]:
            records[unit["stream"]] += unit["records"]
            lengths[unit["stream"]] += unit["window"][1] - unit["window"][0]
    return {name: records[name] / lengths[name] for name in lengths}


def _records_per_unit(units: list[dict[str, Any]]) -> dict[str, float]:
    records: dict[str, list[int]] = defaultdict(list)
    for unit in units:
        if not unit["window"]:
            records[unit["stream"]].append(unit["records"])
    return {name: sum(counts) / len(counts) for name, counts in records.items()}


def _partitions(
    units: list[dict[str, Any]], store: CheckpointStore
) -> dict[str, frozenset[str]]:
    # A parent's checkpoints name the partitions it listed; the child units
    # of the manifest name those whose children ran.
    named: dict[str, set[str]] = defaultdict(set)
    for unit in units:
        parent = _parent(unit["stream"])
        if parent and unit["partition"] is not None:
            named[parent].add(unit["partition"])
        entry = store.completed.get(unit["unit"])
        if entry and entry.get("partitions"):
            named[unit["stream"]].update(entry["partitions"])
    return {name: frozenset(values) for name, values in named.items()}


def _parent(name: str) -> str | None:
    found = catalog.STREAMS_BY_NAME.get(name)
    return found.parent if found else None


def _polls_per_job(buckets: Mapping[str, Mapping[str, int]]) -> float | None:
    created = buckets.get(catalog.SDR_CREATE_JOB.bucket, {}).get("requests", 0)
    polled = buckets.get(catalog.SDR_JOB_STATUS.bucket, {}).get("requests", 0)
    return polled / created if created and polled else None
