"""Event streams: audit logs (4.1.4), cloud service alarms (4.1.6) and
hardware alarms (4.1.7), stamped at hashed moments inside their slots."""

from __future__ import annotations

import orjson

from harvester.emulator.data.fleet import Fleet, doc_ip
from harvester.emulator.data.formats import clock_time
from harvester.emulator.data.series import Item, TimedSeries
from harvester.emulator.hashing import mix, pick, salt, uuid_like

OPERATIONS = {
    "0": ("createServer", "deleteVolume", "addScheduleSchedule", "modifyQuota"),
    "1": ("login", "logout", "resetPassword", "lockUser"),
}
DEPARTMENTS = ("运维部", "Finance", "R&D", "安全中心")
# Quotes, backslashes and non-ASCII text in details make exactness testable.
DETAILS = (
    'Created server "{name}" for tenant {tenant}',
    "Deleted volume {name} (卷已删除)",
    "Exported report to C:\\reports\\{name}.csv",
    "Changed quota of {tenant}: vcpus 64 -> 128",
)
# (alarm id, English name, local name) per service type.
ALARMS = {
    "ECS": (
        ("600000001", "VM fault", "虚拟机故障"),
        ("600000002", "VM CPU high", ""),
    ),
    "EVS": (("600000101", "Disk usage over threshold", "磁盘使用率超过阈值"),),
    "Server": (
        ("300000001", "Fan fault", ""),
        ("300000002", "Power supply lost", ""),
    ),
    "Network": (
        ("200000001", "Port down", "端口 Down"),
        ("200000002", "Optics", ""),
    ),
}


def build(fleet: Fleet) -> dict[str, TimedSeries]:
    """The event streams' series, keyed by catalog endpoint name."""
    scale = fleet.scale
    return {
        "audit_logs": _audit_logs(fleet, scale.audit_slot * 1000),
        "cloud_service_alarms": _alarms(
            fleet, "cloud_service_alarms", ("ECS", "EVS"), scale.cloud_alarm_slot
        ),
        "hardware_alarms": _alarms(
            fleet, "hardware_alarms", ("Server", "Network"), scale.hardware_alarm_slot
        ),
    }


def _audit_logs(fleet: Fleet, period: int) -> TimedSeries:
    items = [Item(n, {"log_type": kind}) for n, kind in enumerate(("0", "1"))]
    key = mix(fleet.seed, salt("audit_logs"))

    def render(stamp: int, item: Item) -> bytes:
        kind = item.dims["log_type"]
        serial = stamp // period * len(items) + item.index
        draw = mix(key, serial)
        name = f"ecs-{draw % 1000:04d}"
        tenant = pick(draw >> 10, fleet.tenants)
        return orjson.dumps(
            {
                "id": str(serial),
                "operating_name": pick(draw >> 4, OPERATIONS[kind]),
                "operating_source": pick(draw >> 6, ("console", "api", "cli")),
                "operation_result": "1" if draw % 17 == 0 else "0",
                "operation_detail": pick(draw >> 8, DETAILS).format(
                    name=name, tenant=tenant
                ),
                "resource_name": name,
                "resource_type": pick(draw >> 12, ("server", "volume", "quota")),
                "operating_user": pick(draw >> 14, ("admin", "capacityApi", "张伟")),
                "department": pick(draw >> 16, DEPARTMENTS),
                "severity": str(draw % 4 + 1),
                "type": kind,
                "start_time": clock_time(stamp),
                "end_time": clock_time(stamp + draw % 9000),
                "resource_id": uuid_like(draw),
                "resource_region": fleet.region_id,
                "source_addr": doc_ip(2, draw),
                "region_id": fleet.region_id,
                "region_name": fleet.region_name,
                "resource_region_name": fleet.region_name,
            }
        )

    return TimedSeries(
        "audit_logs", period, items, render, jitter_salt=mix(key, salt("jitter"))
    )


def _alarms(
    fleet: Fleet, name: str, services: tuple[str, str], slot_s: int
) -> TimedSeries:
    pairs = [(cleared, service) for cleared in ("0", "1") for service in services]
    items = [
        Item(n, {"cleared": cleared, "service_type": service})
        for n, (cleared, service) in enumerate(pairs)
    ]
    key = mix(fleet.seed, salt(name))
    period = slot_s * 1000

    def render(stamp: int, item: Item) -> bytes:
        serial = stamp // period * len(items) + item.index
        draw = mix(key, serial)
        return orjson.dumps(_alarm(fleet, item, serial, draw, stamp))

    return TimedSeries(name, period, items, render, jitter_salt=mix(key, 1))


def _alarm(
    fleet: Fleet, item: Item, serial: int, draw: int, stamp: int
) -> dict[str, str]:
    service, cleared = item.dims["service_type"], item.dims["cleared"]
    alarm_id, alarm_name, local_name = pick(draw, ALARMS[service])
    host = pick(draw >> 8, fleet.hosts)
    first = stamp - draw % 86_400_000
    me_dn = f"NE={draw % 100000:05d}"
    return {
        "csn": str(serial),
        "alarm_name": f"{alarm_name} / {local_name}" if local_name else alarm_name,
        "alarm_id": alarm_id,
        "severity": str(draw % 4 + 1),
        "event_type": "1",
        "origin_system_type": service,
        "origin_system_name": f"{service}-OC",
        "moi": f'host="{host.name}"',
        "additional_information": f"SN={host.sn}; log=C:\\alarms\\{serial}.txt",
        "latest_occur_utc": str(stamp),
        "first_occur_utc": str(first),
        "meName": host.name,
        "count": str(draw % 5 + 1),
        "probable_cause": "阈值越限" if draw % 3 == 0 else "Hardware fault",
        "region": fleet.region_id,
        "dc_name": "dc-01",
        "res_pool_name": f"pod{host.az}",
        "azone_name": f"AZ{host.az}",
        "tenant": pick(draw >> 12, fleet.tenants),
        "nativeMeDn": host.ip,
        "moc": service.lower(),
        "cleared": cleared,
        "clear_category": "ADAC",
        "clear_utc": str(stamp + draw % 3_600_000) if cleared == "1" else "",
        "clear_user": "admin" if cleared == "1" else "",
        "clear_type": "1" if cleared == "1" else "",
        "acked": str(draw >> 20 & 1),
        "ack_user": "admin" if draw >> 20 & 1 else "",
        "ack_utc": str(stamp + 60_000) if draw >> 20 & 1 else "",
        "merge_key": f"{alarm_id}_{me_dn}",
        "me_category": service,
        "me_type": service.lower(),
        "product_name": f"{service.lower()}-agent",
        "LogicalRegionId": fleet.region_id,
        "serviceAffectedType": str(draw >> 22 & 1),
        "affectedService": service,
        "meDn": me_dn,
    }
