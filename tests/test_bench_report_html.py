"""The HTML report: self-contained, one chart per bucket and two per stream."""

from __future__ import annotations

import re
from pathlib import Path

from bench_fixtures import result

from harvester.bench import report_html, report_json, svg


def test_the_page_is_self_contained_with_every_chart(tmp_path: Path) -> None:
    doc = report_json.document(result())
    report_html.write(doc, tmp_path / "report.html")
    page = (tmp_path / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert len(re.findall(r'<svg class="chart"', page)) == 3 + 2 * 3
    assert "<script" not in page and "<link" not in page
    assert not re.search(r'(src|href)="', page)
    assert "class='fail'>FAIL" in page and "class='pass'>PASS" in page


def test_charts_draw_lines_rules_and_skip_missing_points() -> None:
    drawn = svg.chart(
        "t <&>",
        [svg.Line("a", "#000", [(0, 1.0), (1, None), (2, 3.0)])],
        [svg.Rule("limit", 4.0, "#f00")],
        svg.Axes("x", "y"),
    )
    assert "t &lt;&amp;&gt;" in drawn
    path = re.search(r'<path d="([^"]+)"', drawn)
    assert path is not None and path[1].count("L") == 1
    assert drawn.count("<circle") == 2
    assert 'class="rule"' in drawn
