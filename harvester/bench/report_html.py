"""The HTML report: one self-contained page, drawn from the JSON report.

No script and nothing fetched: styles are inline and charts are inline
SVG, so the page opens the same offline, from a mail attachment or a CI
artifact. Per step it shows the generator's figures and warnings, the
verdict table, and charts: each bucket's throughput against its limit
over time, and each stream's latency over time and percentile spectrum
against the documented TP50 and TP99.9.
"""

from __future__ import annotations

import math
from html import escape
from pathlib import Path
from typing import Any

from harvester.bench import report_text, svg

STYLE = """
body { font: 14px/1.4 sans-serif; margin: 24px; color: #222; }
h1 { font-size: 20px; } h2 { font-size: 17px; margin-top: 32px; }
h3 { font-size: 15px; margin: 16px 0 4px; }
table { border-collapse: collapse; margin: 8px 0; }
td, th { border: 1px solid #ccc; padding: 2px 8px; text-align: left; }
td.pass { background: #dfd; } td.fail { background: #fdd; }
td.untested { background: #eee; }
.warning { background: #fff3cd; border: 1px solid #e0c060; padding: 4px 8px; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
svg.chart { background: #fff; border: 1px solid #ddd; }
svg.chart text { font: 11px sans-serif; fill: #333; }
svg.chart text.title { font-weight: bold; font-size: 12px; }
svg.chart .frame { fill: none; stroke: #999; }
svg.chart .grid { stroke: #eee; } svg.chart .axis { stroke: #999; }
svg.chart .line { fill: none; stroke-width: 1.5; }
svg.chart .rule { stroke-dasharray: 6 4; stroke-width: 1.2; }
"""
BLUE, ORANGE, RED, GREEN, GREY = "#1f77b4", "#ff7f0e", "#d62728", "#2ca02c", "#777"
SPECTRUM_TICKS = (
    (0.0, "0%"),
    (1.0, "90%"),
    (2.0, "99%"),
    (3.0, "99.9%"),
    (4.0, "99.99%"),
)
# A throughput bin holds at least this many requests at the offered rate,
# so a bucket of one request a second does not draw as spikes.
REQUESTS_PER_BIN = 2


def render(doc: dict[str, Any]) -> str:
    """The whole report as one HTML document."""
    verdict = "an SLA item FAILED" if doc["failed"] else "no SLA item failed"
    head = (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<title>ESM load benchmark</title>"
        f"<style>{STYLE}</style></head><body>"
        "<h1>ESM load benchmark</h1>"
        f"<p>Site {escape(doc['site'])}"
        f"{' (built-in emulator)' if doc['embedded'] else ''}, {escape(doc['at'])}: "
        f"<strong>{verdict}</strong>.</p>"
    )
    if doc["emulator_latency"]:
        models = "; ".join(doc["emulator_latency"])
        head += f"<p>Emulator latency model: <code>{escape(models)}</code></p>"
    steps = "".join(_step(step) for step in doc["steps"])
    return f"{head}{steps}</body></html>\n"


def write(doc: dict[str, Any], path: Path) -> None:
    """Write the report for `doc` to `path`, creating its directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(doc), encoding="utf-8")


def _step(step: dict[str, Any]) -> str:
    gen = step["generator"]
    warnings = "".join(
        f"<p class='warning'>{escape(text)}</p>" for text in gen["warnings"]
    )
    charts = [_throughput_chart(bucket) for bucket in step["buckets"]]
    for stream in step["streams"]:
        charts += [_latency_chart(stream), _spectrum_chart(stream)]
    return (
        f"<h2>Step {escape(step['rate'])}: {step['duration_s']:.3g} s</h2>"
        f"<p>{escape(report_text.generator_line(gen))}</p>{warnings}"
        f"<h3>Verdict</h3>{_verdict_table(step)}"
        f"<h3>Measured</h3>{_figures_table(step)}"
        f"<h3>Charts</h3><div class='charts'>{''.join(charts)}</div>"
    )


def _verdict_table(step: dict[str, Any]) -> str:
    rows = report_text.verdict_rows(step)
    columns = report_text.VERDICT_COLUMNS
    body = []
    for row in rows:
        cells = []
        for column in columns:
            value = str(row.get(column, ""))
            css = f" class='{value.lower()}'" if column == "verdict" else ""
            cells.append(f"<td{css}>{escape(value)}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return _table(columns, body)


def _figures_table(step: dict[str, Any]) -> str:
    rows = [report_text.figures_row(stream) for stream in step["streams"]]
    columns = list(rows[0]) if rows else []
    body = [
        "<tr>" + "".join(f"<td>{escape(str(row[c]))}</td>" for c in columns) + "</tr>"
        for row in rows
    ]
    return _table(columns, body)


def _table(columns: Any, body: list[str]) -> str:
    head = "".join(f"<th>{escape(column)}</th>" for column in columns)
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _throughput_chart(bucket: dict[str, Any]) -> str:
    rates, bin_s = bucket["ok_per_s"], bucket["bin_s"]
    merge = max(1, math.ceil(REQUESTS_PER_BIN / bucket["offered_rate"] / bin_s))
    points = [
        (i * bin_s, sum(rates[i : i + merge]) / merge)
        for i in range(0, len(rates), merge)
    ]
    rules = [
        svg.Rule(f"limit {bucket['limit_rate']:.4g}/s", bucket["limit_rate"], RED),
        svg.Rule(
            f"offered {bucket['offered_rate']:.4g}/s", bucket["offered_rate"], GREY
        ),
    ]
    if not math.isclose(bucket["documented_rate"], bucket["limit_rate"]):
        rules.append(
            svg.Rule(
                f"documented {bucket['documented_rate']:.4g}/s",
                bucket["documented_rate"],
                ORANGE,
            )
        )
    return svg.chart(
        f"throughput: {_short(bucket['bucket'])}",
        [svg.Line("2xx answers/s", GREEN, points)],
        rules,
        svg.Axes("seconds into the step", "requests/s"),
    )


def _latency_chart(stream: dict[str, Any]) -> str:
    series = stream["series"]
    bin_s = series["bin_s"]
    lines = [
        svg.Line("max", RED, _indexed(series["latency_max_ms"], bin_s)),
        svg.Line("mean", BLUE, _indexed(series["latency_mean_ms"], bin_s)),
    ]
    return svg.chart(
        f"latency over time: {stream['stream']}",
        lines,
        _sla_rules(stream["sla"]),
        svg.Axes("scheduled send, seconds into the step", "ms"),
    )


def _spectrum_chart(stream: dict[str, Any]) -> str:
    points = [
        (math.log10(1 / (1 - point / 100)), value)
        for point, value in stream["spectrum_ms"]
    ]
    return svg.chart(
        f"percentile spectrum: {stream['stream']} (max {_ms(stream)})",
        [svg.Line("latency", BLUE, points)],
        _sla_rules(stream["sla"]),
        svg.Axes("percentile", "ms", SPECTRUM_TICKS),
    )


def _sla_rules(sla: dict[str, Any]) -> list[svg.Rule]:
    rules = []
    if sla["tp50_ms"] is not None:
        rules.append(svg.Rule(f"SLA TP50 {sla['tp50_ms']:g} ms", sla["tp50_ms"], GREEN))
    if sla["tp999_ms"] is not None:
        rules.append(
            svg.Rule(f"SLA TP99.9 {sla['tp999_ms']:g} ms", sla["tp999_ms"], RED)
        )
    return rules


def _indexed(values: list[float | None], bin_s: float) -> list[tuple[float, Any]]:
    return [(i * bin_s, value) for i, value in enumerate(values)]


def _ms(stream: dict[str, Any]) -> str:
    value = stream["latency_ms"]["max"]
    return "-" if value is None else f"{value:.4g} ms"


def _short(bucket: str) -> str:
    return bucket.rsplit("/v1/", 1)[-1].rsplit("/v2/", 1)[-1]
