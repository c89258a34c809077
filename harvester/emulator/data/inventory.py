"""Inventory streams: physical devices (4.1.5), tenant resources (4.1.10),
ELBv3 clusters (4.1.11), service health (4.1.1) and external tenant
resources (4.1.12)."""

from __future__ import annotations

import orjson

from harvester.catalog import EXTERNAL_RESOURCE_TYPES
from harvester.emulator.data.fleet import Fleet, doc_ip
from harvester.emulator.data.formats import HOUR_MS, compact_time
from harvester.emulator.data.hosts import STATE_MS
from harvester.emulator.data.series import Item, SnapshotSeries, TimedSeries, caseless
from harvester.emulator.hashing import hex_id, mix, pick, salt, uuid_like

DEVICE_TYPES = ("server", "server", "server", "switch", "firewall", "router")
DEVICE_MODELS = {
    "server": ("2288H V5", "TaiShan 200"),
    "switch": ("CE6881-48S6CQ", "CE16804"),
    "firewall": ("USG6650E",),
    "router": ("NE40E-X8A",),
}
TENANT_KINDS = ("ECS", "EVS", "OBS", "BMS")
SERVICES = ("ECS", "EVS", "OBS", "VPC", "ELB", "RDS", "DCS", "IAM", "SFS", "CCE")
# (cloud service type code, resource type code) per external resource type.
EXTERNAL_CODES = {
    "ECS": ("hws.service.type.ec2", "hws.resource.type.vm"),
    "EVS": ("hws.service.type.ebs", "hws.resource.type.volume"),
    "EIP": ("hws.service.type.vpc", "hws.resource.type.ip"),
    "OBS": ("hws.service.type.obs", "hws.resource.type.bucket"),
}


def build(fleet: Fleet) -> dict[str, SnapshotSeries | TimedSeries]:
    """The inventory streams' series, keyed by catalog endpoint name."""
    series: dict[str, SnapshotSeries | TimedSeries] = {
        "device_assets": _device_assets(fleet),
        "elbv3": _elbv3(fleet),
        "service_health": _service_health(fleet),
        "external_resources": _external(fleet),
    }
    for kind in TENANT_KINDS:
        name = f"tenant_resources.{kind.lower()}"
        series[name] = _tenant_resources(fleet, kind, name)
    return series


def _device_assets(fleet: Fleet) -> SnapshotSeries:
    key = mix(fleet.seed, salt("device_assets"))
    kinds = [pick(mix(key, n), DEVICE_TYPES) for n in range(fleet.scale.device_assets)]
    items = [Item(n, {"device_type": kind}) for n, kind in enumerate(kinds)]

    def render(item: Item) -> bytes:
        draw, kind = mix(key, item.index, 1), item.dims["device_type"]
        return orjson.dumps(
            {
                "device_id": uuid_like(draw),
                "name": f"{kind}-{item.index:04d}"
                + (" 机柜A" if draw % 7 == 0 else ""),
                "device_type": kind,
                "running_status": "fault" if draw % 23 == 0 else "running",
                "model": pick(draw >> 8, DEVICE_MODELS[kind]),
                "management_ip": doc_ip(item.index // 254, item.index),
                "os": "EulerOS 2.0 (SP10)" if kind == "server" else "VRP V200R022",
                "region": fleet.region_id,
            }
        )

    return SnapshotSeries("device_assets", items, render, {"device_type": caseless})


def _tenant_resources(fleet: Fleet, kind: str, name: str) -> SnapshotSeries:
    key = mix(fleet.seed, salt(name))
    items = [Item(n, {}) for n in range(fleet.scale.tenant_resources)]

    def render(item: Item) -> bytes:
        draw = mix(key, item.index)
        record = {
            "resource_id": uuid_like(draw),
            "resource_name": f"{kind.lower()}-{item.index:04d}",
            "resource_type": kind,
            "status": "ACTIVE" if draw % 11 else "SHUTOFF",
            "tenant_name": pick(draw >> 4, fleet.tenants),
            "project_id": hex_id(mix(draw, 2)),
            "region_id": fleet.region_id,
            "az_code": f"{fleet.region_id}{'abc'[draw % 3]}",
        }
        record.update(_tenant_details(kind, draw))
        record["create_time"] = str(STATE_MS - draw % (400 * 86_400_000))
        return orjson.dumps(record)

    return SnapshotSeries(name, items, render)


def _tenant_details(kind: str, draw: int) -> dict[str, str]:
    if kind in ("ECS", "BMS"):
        flavor = pick(draw >> 8, ("s6.large.2", "c6.xlarge.4", "physical.s4"))
        return {"flavor": flavor, "image": "EulerOS 2.9 64bit"}
    if kind == "EVS":
        return {"size_gb": str(10 * (draw % 50 + 1)), "volume_type": "SSD"}
    return {"storage_class": "STANDARD", "size_bytes": str(draw % 10**12)}


def _elbv3(fleet: Fleet) -> SnapshotSeries:
    key = mix(fleet.seed, salt("elbv3"))
    items = [Item(n, {}) for n in range(fleet.scale.elb_clusters)]

    def render(item: Item) -> bytes:
        draw = mix(key, item.index)
        number = item.index + 1
        return orjson.dumps(
            {
                "ms_nodes_list": "",
                "cluster_name": f"elbv3-cluster{number:02d}",
                "lb_count": str(draw % 400),
                "time_stamp": str(STATE_MS),
                "l4_member_capacity": "30000",
                "l7_member_capacity": "20000",
                "region_id": fleet.region_id,
                "type": "ELBv3",
                "l4_listener_capacity": "10000",
                "l4_listener_count": str(draw >> 9 & 1023),
                "lb_v5_count": str(draw >> 19 & 63),
                "l7_listener_capacity": "5000",
                "lb_capacity": "8000",
                "cluster_id": uuid_like(draw),
                "l4_member_count": "",
                "l7_member_count": str(draw >> 25 & 511),
                "l7_listener_count": str(draw >> 34 & 255),
                "region_name": "",
                "cluster_code": f"elbv3-cluster{number:02d}-az{item.index % 3 + 1}",
            }
        )

    return SnapshotSeries("elbv3", items, render)


def _service_health(fleet: Fleet) -> SnapshotSeries:
    key = mix(fleet.seed, salt("service_health"))
    items = [Item(n, {}) for n in range(fleet.scale.services)]

    def render(item: Item) -> bytes:
        draw = mix(key, item.index)
        service = SERVICES[item.index % len(SERVICES)]
        if item.index >= len(SERVICES):
            service = f"{service}-{item.index // len(SERVICES)}"
        healthy = draw % 9 != 0
        return orjson.dumps(
            {
                "service_name": service,
                "region_id": fleet.region_id,
                "status": "normal" if healthy else "abnormal",
                "health_score": str(100 - draw % 5 if healthy else 60 + draw % 20),
                "alarm_count": str(0 if healthy else draw % 7 + 1),
                "description": "运行正常" if healthy else 'probe "api" timed out',
                "update_time": str(STATE_MS),
            }
        )

    return SnapshotSeries("service_health", items, render)


def _codes(kind: str) -> tuple[str, str]:
    lower = kind.lower()
    default = (f"hws.service.type.{lower}", f"hws.resource.type.{lower}")
    return EXTERNAL_CODES.get(kind, default)


def _external(fleet: Fleet) -> TimedSeries:
    per_type = fleet.scale.external_per_type
    items = [
        Item(t * per_type + n, {"resource_type": kind})
        for t, kind in enumerate(EXTERNAL_RESOURCE_TYPES)
        for n in range(per_type)
    ]
    key = mix(fleet.seed, salt("external_resources"))

    def render(stamp: int, item: Item) -> bytes:
        kind = item.dims["resource_type"]
        resource = mix(key, item.index)
        service, resource_type = _codes(kind)
        return orjson.dumps(
            {
                "accumulate_factor_name": "Duration",
                "accumulate_factor_value": "3600",
                "az_code": f"{fleet.region_id}a",
                "begin_time": compact_time(stamp - HOUR_MS),
                "bp_info": "",
                "cloud_service_type_code": service,
                "csb_params": f"::{kind}-{resource % 65536:04x}:{hex_id(resource)}:",
                "domain_id": fleet.domain_id,
                "domain_name": f"op_svc_{kind.lower()}_{hex_id(resource, 12)}",
                "enterprise_project_id": "",
                "error_msg": "",
                "extend_params": str(resource % 3),
                "extend_params2": "",
                "record_type": "20",
                "region_code": fleet.region_id,
                "relate_parent_resource": "",
                "relate_root_resource": "",
                "resource_id": uuid_like(resource),
                "resource_spec_code": pick(resource >> 8, ("ks1.xlarge.2.linux", "s6")),
                "resource_type_code": resource_type,
                "site_code": "",
                "tag": "",
                "time_stamp": compact_time(stamp),
                "project_id": hex_id(mix(resource, 3)),
            }
        )

    return TimedSeries("external_resources", HOUR_MS, items, render)
