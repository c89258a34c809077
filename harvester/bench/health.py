"""Whether the generator kept up, or was itself the bottleneck of a step.

An open-loop generator is only honest while it sends at the asked rate
and on time. Four signs say it did not: it sent short of the asked rate,
its requests left late (lag), it used most of a core, or every connection
was busy so requests queued inside the client. Each becomes a warning in
the report, since latencies then include the generator's own delays.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from harvester.bench.generator import StepRun
from harvester.bench.measure import percentiles_ms

MAX_SHORTFALL = 0.01
MAX_LAG_TP99_MS = 2.0
MAX_CPU_SHARE = 0.9


@dataclass(frozen=True, slots=True)
class Health:
    """The generator's own figures for one step, and what they mean."""

    asked_rate: float
    achieved_rate: float
    lag_ms: dict[str, float | None]
    cpu_share: float
    max_in_flight: int
    connections: int
    held_s: float
    warnings: tuple[str, ...]

    @property
    def shortfall(self) -> float:
        """How far the rate that left fell short of the asked rate (0.02: 2%)."""
        if self.asked_rate <= 0:
            return 0.0
        return max(0.0, 1 - self.achieved_rate / self.asked_rate)

    @property
    def bottleneck(self) -> bool:
        """Whether the generator, rather than the site, limited the step."""
        return bool(self.warnings)


def assess(step: StepRun) -> Health:
    """The generator's health in `step`."""
    asked = sum(run.load.rate for run in step.buckets)
    achieved = sum(run.send_rate for run in step.buckets)
    health = Health(
        asked_rate=asked,
        achieved_rate=achieved,
        lag_ms=percentiles_ms(step.lag),
        cpu_share=step.cpu_share,
        max_in_flight=step.max_in_flight,
        connections=step.connections,
        held_s=sum(run.held_s for run in step.buckets),
        warnings=(),
    )
    return replace(health, warnings=tuple(_warnings(health)))


def _warnings(health: Health) -> list[str]:
    warnings = []
    if health.shortfall > MAX_SHORTFALL:
        warnings.append(
            f"the generator sent {health.achieved_rate:.5g}/s of the "
            f"{health.asked_rate:.5g}/s asked ({health.shortfall:.1%} short): "
            "it, not the site, limited this step"
        )
    lag99 = health.lag_ms["tp99"] or 0.0
    if lag99 > MAX_LAG_TP99_MS:
        warnings.append(
            f"requests left late (lag TP99 {lag99:.3g} ms, max "
            f"{health.lag_ms['max'] or 0:.3g} ms): latencies include that delay"
        )
    if health.cpu_share > MAX_CPU_SHARE:
        warnings.append(
            f"the generator used {health.cpu_share:.0%} of a core: "
            "it is near its own limit"
        )
    if health.max_in_flight >= health.connections:
        warnings.append(
            f"all {health.connections} connections were busy at once: requests "
            "queued in the client, and the wait counts in their latency"
        )
    if health.held_s > 0:
        warnings.append(
            f"requests were held {health.held_s:.3g} s in all to keep within "
            "the limit after the generator fell behind"
        )
    return warnings
