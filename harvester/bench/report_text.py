"""The benchmark's verdict table and generator notes, as printed text."""

from __future__ import annotations

from typing import Any

from harvester.report import table

VERDICT_COLUMNS = ("stream", "item", "measured", "documented", "verdict", "note")


def render(doc: dict[str, Any]) -> str:
    """Every step of a JSON report as text: figures, verdicts, warnings."""
    parts = []
    for step in doc["steps"]:
        parts.append(_heading(step))
        parts.append(table([figures_row(stream) for stream in step["streams"]]))
        parts.append("")
        parts.append(table(verdict_rows(step), VERDICT_COLUMNS))
        parts.append(generator_line(step["generator"]))
        parts += [f"WARNING: {text}" for text in step["generator"]["warnings"]]
        parts.append("")
    parts.append("SLA: FAIL" if doc["failed"] else "SLA: no item failed")
    return "\n".join(parts)


def _heading(step: dict[str, Any]) -> str:
    return (
        f"== step {step['rate']}: {step['duration_s']:.3g} s planned, "
        f"{step['wall_s']:.3g} s until the last answer =="
    )


def figures_row(stream: dict[str, Any]) -> dict[str, Any]:
    """One stream's counts, errors and latency percentiles as table cells."""
    latency = stream["latency_ms"]
    errors = ", ".join(f"{k} {v}" for k, v in stream["errors"].items() if v)
    return {
        "stream": stream["stream"],
        "scheduled": stream["scheduled"],
        "sent": stream["sent"],
        "completed": stream["completed"],
        "ok": stream["ok"],
        "errors": errors or "-",
        **{name: _ms(latency[name]) for name in ("tp50", "tp90", "tp99", "tp99.9")},
        "max": _ms(latency["max"]),
    }


def verdict_rows(step: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per SLA item of every stream; one note row when undocumented."""
    rows = []
    for stream in step["streams"]:
        verdict = stream["verdict"]
        if not verdict["items"]:
            rows.append({"stream": stream["stream"], "note": verdict["note"]})
        for item in verdict["items"]:
            rows.append(
                {
                    "stream": stream["stream"],
                    "item": item["item"],
                    "measured": _value(item["measured"], item["unit"]),
                    "documented": _value(item["documented"], item["unit"]),
                    "verdict": item["status"].upper(),
                    "note": item["note"],
                }
            )
    return rows


def generator_line(gen: dict[str, Any]) -> str:
    """The generator's own figures for one step, in one line."""
    lag = gen["lag_ms"]
    return (
        f"generator: asked {gen['asked_rate']:.5g}/s, "
        f"sent {gen['achieved_rate']:.5g}/s "
        f"({gen['shortfall']:.1%} short), lag TP50 {_ms(lag['tp50'])} "
        f"TP99 {_ms(lag['tp99'])} max {_ms(lag['max'])}, "
        f"CPU {gen['cpu_share']:.0%} of a core, "
        f"{gen['max_in_flight']} in flight at most"
    )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g} ms"


def _value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "%":
        return f"{value:.3%}"
    if unit == "ms":
        return _ms(value)
    return f"{value:.5g}{unit}"
