"""Printing figures: one aligned line each, and goals marked met or missed."""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence

WIDTH = 52


def title(text: str) -> None:
    """A benchmark's heading, with the machine's load: it is shared and noisy."""
    load = os.getloadavg()[0]
    print(
        f"\n== {text}  (load average {load:.2f} on {os.cpu_count()} cores)", flush=True
    )


def line(name: str, value: float | str, unit: str = "") -> None:
    """One figure: name, value, unit."""
    shown = f"{value:>14,.2f}" if isinstance(value, float) else f"{value!s:>14}"
    print(f"  {name:<{WIDTH}} {shown} {unit}".rstrip(), flush=True)


def goal(name: str, value: float, target: float, *, at_most: bool = False) -> dict:
    """Print a ratio against its goal; return both and whether it is met."""
    met = value <= target if at_most else value >= target
    sign = "<=" if at_most else ">="
    verdict = "met" if met else "MISSED"
    line(name, value, f"(goal {sign} {target:g}: {verdict})")
    return {"value": round(value, 4), "goal": f"{sign} {target:g}", "met": met}


def median(values: Sequence[float]) -> float:
    """The median of a few repeated measurements."""
    return float(statistics.median(values))
