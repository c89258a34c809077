"""Plain-text tables for the terminal: run summaries, verify results, catalog."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harvester.manifest import RunReport
from harvester.verify import StreamCheck


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] = ()) -> str:
    """Rows of mappings as an aligned text table."""
    if not rows:
        return "(nothing)"
    columns = list(columns or rows[0].keys())
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += [
        "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells
    ]
    return "\n".join(line.rstrip() for line in lines)


def summary(report: RunReport, manifest: Path) -> str:
    """What a run did, per stream and in total."""
    streams: dict[str, dict[str, Any]] = {
        s.name: {"stream": s.name, "units": 0, "failed": 0, "records": 0}
        for s in report.plan.streams
    }
    for unit in report.units:
        row = streams[unit.stream]
        row["units"] += 1
        row["failed"] += unit.status != "ok"
        row["records"] += unit.records
    wall = report.finished - report.started
    records = sum(u.records for u in report.units)
    return "\n".join(
        [
            table(list(streams.values())),
            "",
            f"run {report.run_id}: {len(report.units)} units "
            f"({sum(u.resumed for u in report.units)} resumed, "
            f"{sum(u.unsettled for u in report.units)} unsettled), "
            f"{len(report.failed_units)} failed, {records} records in {wall:.1f} s",
            f"manifest: {manifest}",
        ]
    )


def verification(checks: Sequence[StreamCheck]) -> str:
    """Verify results per stream and a one-line verdict."""
    rows = [
        {
            "stream": c.stream,
            "expected": c.expected,
            "harvested": c.harvested,
            "lost": c.lost,
            "duplicated": c.duplicated,
            "unexpected": c.unexpected,
            "corrupt_units": c.corrupt_units,
        }
        for c in checks
    ]
    exact = sum(c.exact for c in checks)
    verdict = "verify: OK" if exact == len(checks) else "verify: MISMATCH"
    return f"{table(rows)}\n\n{verdict}: {exact} of {len(checks)} streams exact"


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, Mapping):
        return ",".join(f"{k}={v}" for k, v in value.items()) or "-"
    return str(value)
