"""Capacity streams: physical resource pools (4.1.2) and cloud service
capacities (4.1.3.1-10), one hourly snapshot per pool."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from harvester.catalog import SERVICE_TYPES
from harvester.emulator.data.fleet import Fleet
from harvester.emulator.data.formats import HOUR_MS, Signal
from harvester.emulator.data.series import Item, TimedSeries, caseless
from harvester.emulator.hashing import mix, salt, unit

REGIONS = ("cn-north-7", "cn-north-8")


def zone_matches(query: str, zone: str) -> bool:
    """Whether a `zone_type` query names a record's zone.

    Queries say `manage`, `pod` or `EIP_POD` (4.1.2, 4.1.3); records say
    `MANAGE`, `KVM POD` or `EIP POD`. `pod` means every tenant zone.
    """
    wanted = query.upper().replace("_", " ")
    return wanted == zone or (wanted == "POD" and zone.endswith("POD"))


@dataclass(frozen=True, slots=True)
class Pool:
    """One capacity pool: what a snapshot record describes."""

    kind: str
    region: str
    zone: str
    metric: str
    resource: str
    storage: bool


@dataclass(frozen=True, slots=True)
class ServiceShape:
    """How one service type's records look (4.1.3.x samples differ)."""

    spelling: str
    zones: tuple[str, ...]
    metrics: tuple[str, ...]
    storage: bool = False


SERVICE_SHAPES = {
    "ECS_VM": ServiceShape("ecs-vm", ("MANAGE", "POD"), ("c6.large.2", "s6.xlarge.2")),
    "BMS": ServiceShape("BMS", ("POD",), ("physical.kd1ne.2xlarge", "physical.s4")),
    "EVS": ServiceShape("EVS", ("MANAGE", "POD"), ("SAS", "SSD"), storage=True),
    "OBS": ServiceShape("OBS", ("OBS POD",), ("single-AZ", "multi-AZ"), storage=True),
    "EIP": ServiceShape("EIP", ("EIP POD",), ("5_bgp", "5_sbgp")),
    "RDS": ServiceShape("RDS", ("RDS POD",), ("mysql", "postgresql", "sqlserver")),
    "DCC": ServiceShape("dcc", ("DCC POD",), ("host", "vCPU", "memory")),
    "DeH": ServiceShape("deh", ("DEH POD",), ("s3", "l5")),
    "SFS": ServiceShape("sfs", ("SFS POD",), ("standard",), storage=True),
    "VPN": ServiceShape("VPN", ("VPN POD",), ("connection", "gateway")),
}


def build(fleet: Fleet) -> dict[str, TimedSeries]:
    """The capacity streams' series, keyed by catalog endpoint name."""
    return {
        "physical_capacity": _physical(fleet),
        "service_capacity": _services(fleet),
    }


def _figures(key: int, stamp: int, storage: bool) -> dict[str, str]:
    # Totals stay put; allocation drifts through the day.
    total = 40 + unit(mix(key, 0)) * 400 if storage else 200 + mix(key, 0) % 12000
    share = min(Signal(key, 0.55, 0.15, 0.05).at(stamp), 0.98)
    allocated = total * share
    used = allocated * 0.8
    places = 4 if storage else 0
    return {
        "total": f"{total:.{places}f}",
        "allocated": f"{allocated:.{places}f}",
        "available": f"{total - allocated:.{places}f}",
        "used": f"{used:.{places}f}",
        "free": f"{total - used:.{places}f}",
        "used_ratio": f"{used / total:.2f}",
        "allocated_ratio": f"{share:.2f}",
    }


def _physical(fleet: Fleet) -> TimedSeries:
    pools = [
        Pool("ECS", region, zone, metric, resource, metric == "memory")
        for region in REGIONS
        for zone in ("MANAGE", "KVM POD")
        for resource in ("C6xLarge", "M6xLarge")
        for metric in ("vCpu", "memory")
    ] + [
        Pool("EVS", region, zone, disk, disk, True)
        for region in REGIONS
        for zone in ("MANAGE", "POD")
        for disk in ("SAS", "SSD")
    ]
    items = [
        Item(n, {"device_type": pool.kind, "zone_type": pool.zone}, pool)
        for n, pool in enumerate(pools)
    ]
    key = mix(fleet.seed, salt("physical_capacity"))

    def render(stamp: int, item: Item) -> bytes:
        pool: Pool = item.subject
        figures = _figures(mix(key, item.index), stamp, pool.storage)
        if pool.kind == "EVS":
            # The storage sample of 4.1.2 names the type `device_type` and
            # carries fewer fields than the compute sample.
            return orjson.dumps(
                {
                    "available": figures["available"],
                    "metric_type": pool.metric,
                    "device_type": "EVS",
                    "zone_type": pool.zone,
                    "region": pool.region,
                    "allocated": figures["allocated"],
                    "resource_type": pool.resource,
                    "timestamp": str(stamp),
                }
            )
        return _long_form("ECS", pool, figures, stamp, pool.resource)

    matchers = {"zone_type": zone_matches}
    return TimedSeries("physical_capacity", HOUR_MS, items, render, matchers=matchers)


def _long_form(
    spelling: str, pool: Pool, figures: dict[str, str], stamp: int, resource: str
) -> bytes:
    record = {
        "service_type": spelling,
        "total": figures["total"],
        "available": figures["available"],
        "metric_type": pool.metric,
        "zone_type": pool.zone,
        "used": figures["used"],
        "free": figures["free"],
        "used_ratio": figures["used_ratio"],
        "allocated_ratio": figures["allocated_ratio"],
        "region": pool.region,
        "resource_count": "0",
        "allocated": figures["allocated"],
    }
    if resource:
        record["resource_type"] = resource
    record["timestamp"] = str(stamp)
    return orjson.dumps(record)


def _services(fleet: Fleet) -> TimedSeries:
    pools = [
        Pool(kind, fleet.region_id, zone, metric, "", shape.storage)
        for kind in SERVICE_TYPES
        for shape in (SERVICE_SHAPES[kind],)
        for zone in shape.zones
        for metric in shape.metrics
    ]
    items = [
        Item(n, {"service_type": pool.kind, "zone_type": pool.zone}, pool)
        for n, pool in enumerate(pools)
    ]
    key = mix(fleet.seed, salt("service_capacity"))

    def render(stamp: int, item: Item) -> bytes:
        pool: Pool = item.subject
        shape = SERVICE_SHAPES[pool.kind]
        figures = _figures(mix(key, item.index), stamp, pool.storage)
        return _long_form(shape.spelling, pool, figures, stamp, "")

    matchers = {"service_type": caseless, "zone_type": zone_matches}
    return TimedSeries("service_capacity", HOUR_MS, items, render, matchers=matchers)
