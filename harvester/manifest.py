"""The run manifest: what a run did, unit by unit, in `manifest.json`.

Key names are stable: tools and tests read them. No secret is ever put
here; the site appears by its base URL alone.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from harvester.config import RunConfig
from harvester.errors import InconsistentError, UnitError
from harvester.limits import Buckets
from harvester.plan import Plan, Unit
from harvester.sinks import Committed

MANIFEST = "manifest.json"


@dataclass(slots=True)
class UnitReport:
    """One unit's outcome."""

    unit: str
    stream: str
    partition: str | None
    window: tuple[int, int] | None
    status: str
    records: int = 0
    pages: int = 0
    bytes: int = 0
    sha256: str = ""
    location: str = ""
    seconds: float = 0.0
    attempts: int = 1
    error: str = ""
    resumed: bool = False
    unsettled: bool = False
    mended: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class RunReport:
    """Everything the manifest records, gathered while the run goes."""

    plan: Plan
    out: Path
    config: RunConfig
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    started: float = field(default_factory=time.time)
    finished: float = 0.0
    units: list[UnitReport] = field(default_factory=list)
    tokens_issued: int = 0

    def done(
        self,
        unit: Unit,
        committed: Committed,
        pages: int,
        seconds: float,
        attempts: int,
    ) -> UnitReport:
        """Record a committed unit."""
        report = self._report(unit, "ok", seconds, attempts)
        report.records, report.bytes = committed.records, committed.bytes
        report.sha256, report.location = committed.sha256, self._portable(committed)
        report.pages = pages
        self.units.append(report)
        return report

    def resumed(self, entry: dict[str, Any]) -> UnitReport:
        """Record a unit an earlier run completed, from its checkpoint."""
        fields = {
            k: v for k, v in entry.items() if k in UnitReport.__dataclass_fields__
        }
        window = fields.get("window")
        report = UnitReport(
            **{**fields, "resumed": True, "window": tuple(window) if window else None}
        )
        self.units.append(report)
        return report

    def failed(
        self, unit: Unit, error: BaseException, seconds: float, attempts: int
    ) -> UnitReport:
        """Record a unit that could not be completed."""
        status = "inconsistent" if isinstance(error, InconsistentError) else "failed"
        report = self._report(unit, status, seconds, attempts)
        # The unit is named beside the error already.
        shown = error.problem if isinstance(error, UnitError) else str(error)
        report.error = shown or type(error).__name__
        self.units.append(report)
        return report

    def _portable(self, committed: Committed) -> str:
        # Files are named relative to the output directory, so a harvest
        # can be moved or copied and still be read, verified and resumed.
        location = Path(committed.location)
        if location.is_absolute() and location.is_relative_to(self.out):
            return str(location.relative_to(self.out))
        return committed.location

    @property
    def failed_units(self) -> list[UnitReport]:
        return [u for u in self.units if u.status != "ok"]

    def to_json(self, buckets: Buckets) -> dict[str, Any]:
        """The manifest as a JSON-ready mapping."""
        wall = (self.finished or time.time()) - self.started
        bound = max(
            (b.estimate_seconds(b.counters.requests) for b in buckets), default=0.0
        )
        return {
            "run_id": self.run_id,
            "site": self.config.site.base_url,
            "sink": self.config.sink,
            "gzip": self.config.gzip,
            "offset_unit": self.config.site.offset_unit,
            "window_end": self.config.site.window_end,
            "started_at": _iso(self.started),
            "finished_at": _iso(self.finished) if self.finished else None,
            "since": self.plan.since,
            "until": self.plan.until,
            "wall_seconds": round(wall, 3),
            "lower_bound_seconds": round(bound, 3),
            "totals": self._totals(buckets),
            "buckets": {b.path: _bucket(b) for b in buckets},
            "streams": self._streams(),
            "failed_units": [
                {"unit": u.unit, "status": u.status, "error": u.error}
                for u in self.failed_units
            ],
        }

    def write(self, out: Path, buckets: Buckets) -> Path:
        """Write `manifest.json` atomically under `out`."""
        out.mkdir(parents=True, exist_ok=True)
        path = out / MANIFEST
        temporary = out / f".{MANIFEST}.{os.getpid()}.tmp"
        data = orjson.dumps(self.to_json(buckets), option=orjson.OPT_INDENT_2)
        try:
            with open(temporary, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except OSError as error:
            raise OSError(error.errno, error.strerror, str(path)) from error
        finally:
            temporary.unlink(missing_ok=True)
        # Each run's manifest is kept too: the latest one is replaced by
        # the next run, and a nightly job wants its history.
        history = out / "runs" / f"{_iso(self.started)}-{self.run_id}.json"
        history.parent.mkdir(exist_ok=True)
        history.write_bytes(data)
        return path

    def _report(
        self, unit: Unit, status: str, seconds: float, attempts: int
    ) -> UnitReport:
        window = (unit.window.begin, unit.window.end) if unit.window else None
        return UnitReport(
            unit.key,
            unit.stream.name,
            unit.partition,
            window,
            status,
            seconds=round(seconds, 4),
            attempts=attempts,
        )

    def _totals(self, buckets: Buckets) -> dict[str, int]:
        counters = [b.counters for b in buckets]
        return {
            "requests": sum(c.requests for c in counters),
            "retries": sum(c.retries for c in counters),
            "throttled": sum(c.throttled for c in counters),
            "records": sum(u.records for u in self.units),
            "resumed_units": sum(u.resumed for u in self.units),
            "mended": dict(sum((Counter(u.mended) for u in self.units), Counter())),
            "pages": sum(u.pages for u in self.units),
            "bytes": sum(u.bytes for u in self.units),
            "units": len(self.units),
            "unsettled_units": sum(u.unsettled for u in self.units),
            "tokens_issued": self.tokens_issued,
            "failed_units": len(self.failed_units),
        }

    def _streams(self) -> dict[str, Any]:
        streams: dict[str, Any] = {
            s.name: {
                "since": self.plan.spans[s.name][0],
                "until": self.plan.spans[s.name][1],
                "window_ms": self.plan.window_ms[s.name]
                if s.endpoint.windowed
                else None,
                "records": 0,
                "pages": 0,
                "bytes": 0,
                "units": [],
            }
            for s in self.plan.streams
        }
        for report in self.units:
            entry = streams[report.stream]
            entry["records"] += report.records
            entry["pages"] += report.pages
            entry["bytes"] += report.bytes
            entry["units"].append(asdict(report))
        return streams


def load(out: Path) -> dict[str, Any]:
    """The manifest of the run written under `out`."""
    data: dict[str, Any] = orjson.loads((out / MANIFEST).read_bytes())
    return data


def _bucket(bucket: Any) -> dict[str, Any]:
    counters = bucket.counters
    return {
        "limit": bucket.limit,
        "period_s": bucket.period,
        "requests": counters.requests,
        "retries": counters.retries,
        "throttled": counters.throttled,
        "failures": counters.failures,
        "lower_bound_seconds": round(bucket.estimate_seconds(counters.requests), 3),
    }


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
