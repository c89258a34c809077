"""The JSON report and the text table drawn from it."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
from bench_fixtures import result

from harvester.bench import report_json, report_text


def test_the_json_report_holds_every_figure(tmp_path: Path) -> None:
    doc = report_json.document(result())
    report_json.write(doc, tmp_path / "deep" / "report.json")
    loaded = orjson.loads((tmp_path / "deep" / "report.json").read_bytes())
    assert loaded["failed"] is True
    (step,) = loaded["steps"]
    assert step["generator"]["asked_rate"] > 200
    streams = {stream["stream"]: stream for stream in step["streams"]}
    elbv3 = streams["elbv3"]
    assert elbv3["scheduled"] == elbv3["ok"] == 2000
    assert set(elbv3["latency_ms"]) == {"tp50", "tp90", "tp99", "tp99.9", "max"}
    assert elbv3["spectrum_ms"][-1][0] == 99.99
    statuses = {i["item"]: i["status"] for i in elbv3["verdict"]["items"]}
    assert statuses == {
        "throughput": "untested",
        "tp50": "fail",
        "tp99.9": "fail",
        "success rate": "pass",
    }
    assert streams["sdr"]["verdict"]["items"] == []
    bucket = step["buckets"][1]
    assert bucket["documented_rate"] == 4000 and bucket["offered_rate"] == 200


def test_the_table_shows_measured_beside_documented() -> None:
    text = report_text.render(report_json.document(result()))
    assert re.search(r"elbv3 +tp99\.9 +9\.0\d* ms +5 ms +FAIL", text)
    assert re.search(r"audit_logs +tp50 +100 ms +200 ms +PASS", text)
    assert "measured only" in text
    assert text.endswith("SLA: FAIL")
