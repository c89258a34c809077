"""Telemetry streams: VM performance (4.1.15) and network device
monitoring data (4.1.13)."""

from __future__ import annotations

from harvester.emulator.data.fleet import Fleet
from harvester.emulator.data.formats import Signal, Template, decimal
from harvester.emulator.data.series import Item, TimedSeries
from harvester.emulator.hashing import mix, salt

# (METRIC_NAME, unit, base, swing, noise)
VM_METRICS = (
    ("cpu_usage", "%", 30.0, 18.0, 7.0),
    ("mem_usage", "%", 58.0, 6.0, 3.0),
)

# 4.1.13 documents these metric codes; (base, swing, noise) per code.
DEVICE_METRICS = {
    "59": (40.0, 15.0, 5.0),
    "60": (55.0, 5.0, 2.0),
    "14": (0.0, 0.0, 0.4),
    "18": (0.0, 0.0, 0.4),
    "101": (3200.0, 2400.0, 600.0),
    "102": (2900.0, 2100.0, 500.0),
    "61": (41.0, 3.0, 1.0),
    "52": (1.0, 0.0, 0.0),
}


def build(fleet: Fleet) -> dict[str, TimedSeries]:
    """The telemetry streams' series, keyed by catalog endpoint name."""
    return {
        "vm_performance": _vm_performance(fleet),
        "network_device_metrics": _device_metrics(fleet),
    }


def _vm_performance(fleet: Fleet) -> TimedSeries:
    key = mix(fleet.seed, salt("vm_performance"))
    tag = fleet.region_id.upper().replace("-", "_") + "_ECS"
    items = []
    for vm in fleet.vms:
        for n, (name, unit, base, swing, noise) in enumerate(VM_METRICS):
            index = vm.index * len(VM_METRICS) + n
            template = Template(
                {
                    "SERVICE": "ECS",
                    "REGION_ID": fleet.region_id,
                    "NAMESPACE": "ecs",
                    "SOURCE_SERVICE": "CES",
                    "SOURCE_TYPE": "TenantMon",
                    "SOURCE_TAG": tag,
                    "TENANT_NAME": vm.tenant,
                    "METRIC_NAME": name,
                    "METRIC_VALUE": None,
                    "METRIC_UNIT": unit,
                    "INSTANCE_ID": vm.vm_id,
                    "TIMESTAMP": None,
                }
            )
            signal = Signal(mix(key, index), base, swing, noise)
            items.append(Item(index, {"vm_id": vm.vm_id}, (template, signal)))

    def render(stamp: int, item: Item) -> bytes:
        template, signal = item.subject
        return template.render(decimal(signal.at(stamp)), str(stamp))

    period = fleet.scale.vm_metric_period * 1000
    return TimedSeries("vm_performance", period, items, render)


def _device_metrics(fleet: Fleet) -> TimedSeries:
    key = mix(fleet.seed, salt("network_device_metrics"))
    items = []
    for device in fleet.network_devices:
        for n, (code, (base, swing, noise)) in enumerate(DEVICE_METRICS.items()):
            index = device.index * len(DEVICE_METRICS) + n
            template = Template(
                {
                    "device_ip": device.ip,
                    "res_type": device.res_type,
                    "metric": code,
                    "region_id": fleet.region_id,
                    "value": None,
                    "timestamp": None,
                }
            )
            signal = Signal(mix(key, index), base, swing, noise)
            places = 1 if base else 0
            dims = {"management_ip": device.ip, "metric": code}
            items.append(Item(index, dims, (template, signal, places)))

    def render(stamp: int, item: Item) -> bytes:
        template, signal, places = item.subject
        return template.render(decimal(signal.at(stamp), places), str(stamp))

    return TimedSeries("network_device_metrics", 300_000, items, render)
