"""Host streams: configuration (4.1.14), metrics (4.1.8), server
performance (4.1.9) and the host-to-VM map (4.1.16)."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from harvester.emulator.data.fleet import Fleet, Host
from harvester.emulator.data.formats import (
    HOUR_MS,
    Signal,
    Template,
    day,
    decimal,
    hour_minute,
    packed,
)
from harvester.emulator.data.series import Item, SnapshotSeries, TimedSeries
from harvester.emulator.hashing import mix, pick, salt

# Current-state records carry a fixed update time, so they are the same
# whenever they are asked for.
STATE_MS = 1_717_200_000_000


@dataclass(frozen=True, slots=True)
class Metric:
    """One monitored quantity of a host: how it is named and how it moves."""

    item: str
    name: str
    data_item: str
    unit: str
    base: float
    swing: float
    noise: float

    def signal(self, key: int) -> Signal:
        """This metric's course for the series item hashed as `key`."""
        return Signal(key, self.base, self.swing, self.noise)


HOST_METRICS = (
    Metric("cpu", "CPU", "usage", "%", 35.0, 20.0, 8.0),
    Metric("memory", "Memory", "usage", "%", 62.0, 9.0, 4.0),
    Metric("disk", "Disk", "usage", "%", 48.0, 1.5, 0.5),
    Metric("network", "Network", "inbound_rate", "KB/s", 900.0, 600.0, 250.0),
)
SERVER_METRICS = (
    Metric("CPUUsagePercent", "", "", "", 38.0, 18.0, 6.0),
    Metric("MemoryUsagePercent", "", "", "", 55.0, 8.0, 3.0),
)


def build(fleet: Fleet) -> dict[str, TimedSeries | SnapshotSeries]:
    """The host streams' series, keyed by catalog endpoint name."""
    return {
        "host_details": _details(fleet),
        "host_metrics": _metrics(fleet),
        "server_performance": _performance(fleet),
        "host_vms": _vms(fleet),
    }


def _details(fleet: Fleet) -> TimedSeries:
    items = [Item(h.index, {"host_id": h.host_id}, h) for h in fleet.hosts]
    # A host's hardware does not change from hour to hour.
    configurations = {h.index: _configuration(fleet, h) for h in fleet.hosts}

    def render(stamp: int, item: Item) -> bytes:
        host: Host = item.subject
        record = {"HOST_ID": host.host_id, "HOST_NAME": host.name}
        record["TIMESTAMP"] = str(stamp)
        record.update(configurations[host.index])
        return orjson.dumps(record)

    return TimedSeries("host_details", HOUR_MS, items, render)


def _configuration(fleet: Fleet, host: Host) -> dict[str, str]:
    key = mix(fleet.seed, salt("configuration"), host.index)
    dimm = {
        "frequency": "2666 MHz",
        "manufacturer": "Micron",
        "type": "DDR4",
        "size": "32 GB",
    }
    sizes = ("599.0", "1598.0", "10.7")
    disks = [{"disk": f"/dev/sd{'abc'[n]}:{size}GB"} for n, size in enumerate(sizes)]
    cpu = {"model": pick(key, ("Xeon Gold 6248", "Kunpeng 920")), "cores": "20"}
    return {
        "CPU": packed([cpu, cpu]),
        "MEMORY": packed([dimm] * (8 + 4 * (key % 3))),
        "DISK": packed(disks),
        "MAC_IP": host.ip,
        "NETWORK_ADAPTER": str(2 + key % 3),
        "RAID": "1",
        "SN": host.sn,
        "CPU_ARCH": "aarch64" if "TaiShan" in host.model else "x86_64",
        "AZ_CODE": az_code(fleet, host),
        "POD_CODE": f"pod{host.az}",
        "CLUSTER_NAME": f"ecs-集群{host.az}",
        "ROOM_CODE": "room-1",
        "RACK_CODE": host.rack,
        "DC_CODE": "dc-01",
    }


def az_code(fleet: Fleet, host: Host) -> str:
    """The AZ code of a host: its region code plus a letter."""
    return f"{fleet.region_id}{'abc'[host.az - 1]}"


def _metrics(fleet: Fleet) -> TimedSeries:
    key = mix(fleet.seed, salt("host_metrics"))
    items = []
    for host in fleet.hosts:
        for n, metric in enumerate(HOST_METRICS):
            index = host.index * len(HOST_METRICS) + n
            shape = (
                _metric_template(fleet, host, metric),
                metric.signal(mix(key, index)),
            )
            items.append(Item(index, {"host_id": host.host_id}, shape))

    def render(stamp: int, item: Item) -> bytes:
        template, signal = item.subject
        return template.render(str(stamp), decimal(signal.at(stamp)))

    period = fleet.scale.host_metric_period * 1000
    return TimedSeries("host_metrics", period, items, render)


def _metric_template(fleet: Fleet, host: Host, metric: Metric) -> Template:
    return Template(
        {
            "time_stamp": None,
            "monitor_item": metric.item,
            "region_id": fleet.region_id,
            "az_name": f"可用区{host.az}",
            "metrics_name": metric.name,
            "operator": "AVG",
            "host_id": host.host_id,
            "az_id": az_code(fleet, host),
            "unit": metric.unit,
            "az_name_en": f"AZ{host.az}",
            "region_name": fleet.region_name,
            "data_item": metric.data_item,
            "region_name_en": "CN North-Beijing7",
            "value": None,
        }
    )


def _performance(fleet: Fleet) -> TimedSeries:
    key = mix(fleet.seed, salt("server_performance"))
    items = []
    for host in fleet.hosts:
        for n, metric in enumerate(SERVER_METRICS):
            index = host.index * len(SERVER_METRICS) + n
            shape = (
                _performance_template(fleet, host, metric),
                metric.signal(mix(key, index)),
            )
            items.append(Item(index, {"sn": host.sn}, shape))

    def render(stamp: int, item: Item) -> bytes:
        template, signal = item.subject
        value = str(round(signal.at(stamp)))
        return template.render(day(stamp), hour_minute(stamp), value)

    return TimedSeries("server_performance", HOUR_MS, items, render)


def _performance_template(fleet: Fleet, host: Host, metric: Metric) -> Template:
    return Template(
        {
            "dc_code": "DC_BJ_07",
            "az_code": az_code(fleet, host),
            "usage": "mgt|mgt-can" if host.index % 4 == 0 else "tenant|ecs",
            "room_code": "bjd07",
            "dates": None,
            "metric": metric.item,
            "pack_code": f"bjd07-{host.rack.lower()}-{host.index % 8 + 1}",
            "model": host.model,
            "time": None,
            "sn": host.sn,
            "value": None,
            "region_code": fleet.region_id,
            "slot_number": str(host.index % 8 + 1),
        }
    )


def _vms(fleet: Fleet) -> SnapshotSeries:
    guests: dict[int, list[dict[str, str]]] = {h.index: [] for h in fleet.hosts}
    for vm in fleet.vms:
        cores = str(vm.cores)
        guests[vm.host.index].append(
            {
                "name": vm.name,
                "cores": cores,
                "model": "",
                "threads": "1",
                "cpu": f"{cores} * 1 * 1 * 1",
                "sockets": cores,
                "id": vm.vm_id,
            }
        )
    items = [Item(h.index, {"host_id": h.host_id}, h) for h in fleet.hosts]

    def render(item: Item) -> bytes:
        host: Host = item.subject
        return orjson.dumps(
            {
                "region_id": fleet.region_id,
                "host_name": host.name,
                "vm_list": packed(guests[host.index]),
                "host_id": host.host_id,
                "host_ip": host.ip,
                "last_update_time": str(STATE_MS + host.index * 1000),
            }
        )

    return SnapshotSeries("host_vms", items, render)
