"""The emulated site's inventory: hosts, VMs, devices, and the scale knobs.

Everything here is derived from (seed, scale) and built once; the streams
draw their partitions and subjects from it, so `host_details` lists the
very hosts `host_metrics` and `host_vms` know.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from harvester.emulator.hashing import mix, pick, salt, uuid_like


@dataclass(frozen=True, slots=True)
class Scale:
    """How much data the site holds; periods are in seconds."""

    hosts: int
    host_metric_period: int
    vms: int
    vm_metric_period: int
    network_devices: int
    device_assets: int
    audit_slot: int
    cloud_alarm_slot: int
    hardware_alarm_slot: int
    tenant_resources: int
    elb_clusters: int
    external_per_type: int
    services: int
    sdr_resources: int


SCALES: dict[str, Scale] = {
    "demo": Scale(
        hosts=12,
        host_metric_period=300,
        vms=30,
        vm_metric_period=300,
        network_devices=6,
        device_assets=150,
        audit_slot=720,
        cloud_alarm_slot=1152,
        hardware_alarm_slot=2880,
        tenant_resources=30,
        elb_clusters=4,
        external_per_type=3,
        services=10,
        sdr_resources=21,
    ),
    "large": Scale(
        hosts=200,
        host_metric_period=60,
        vms=300,
        vm_metric_period=300,
        network_devices=30,
        device_assets=1500,
        audit_slot=144,
        cloud_alarm_slot=288,
        hardware_alarm_slot=576,
        tenant_resources=300,
        elb_clusters=20,
        external_per_type=10,
        services=30,
        sdr_resources=105,
    ),
}


@dataclass(frozen=True, slots=True)
class Host:
    """One physical compute host."""

    index: int
    host_id: str
    name: str
    ip: str
    sn: str
    az: int
    rack: str
    model: str


@dataclass(frozen=True, slots=True)
class Vm:
    """One tenant VM, placed on a host."""

    index: int
    vm_id: str
    name: str
    host: Host
    tenant: str
    flavor: str
    cores: int


@dataclass(frozen=True, slots=True)
class NetworkDevice:
    """One monitored switch, router or firewall."""

    index: int
    ip: str
    res_type: str
    name: str


@dataclass(frozen=True, slots=True)
class Fleet:
    """The whole inventory of one emulated site."""

    seed: int
    scale: Scale
    region_id: str
    region_name: str
    domain_id: str
    hosts: tuple[Host, ...]
    vms: tuple[Vm, ...]
    network_devices: tuple[NetworkDevice, ...]
    tenants: tuple[str, ...]


REGION_ID = "cn-north-7"
# Non-ASCII and JSON-escaped text on purpose: a harvester must keep bytes
# exactly, and these make a lossy round trip visible.
REGION_NAME = "华北-北京七"
TENANTS = ("finance-prod", "运维中心", 'lab "blue"', "retail\\east", "hr-portal")
HOST_MODELS = ("2288H V5", "2288H V6", "TaiShan 200", "RH2288 V3")
# flavor -> vCPUs
FLAVORS = {"s6.large.2": 2, "c6.xlarge.2": 4, "m6.2xlarge.8": 8, "s6.small.1": 1}
DEVICE_KINDS = (("2", "switch"), ("3", "router"), ("5", "firewall"))


def doc_ip(block: int, index: int) -> str:
    """A documentation-range address (RFC 5737): data only, never dialled."""
    prefix = ("192.0.2", "198.51.100", "203.0.113")[block % 3]
    return f"{prefix}.{index % 254 + 1}"


@lru_cache(maxsize=8)
def fleet(seed: int, scale_name: str) -> Fleet:
    """The inventory for a seed and scale, built once."""
    scale = SCALES[scale_name]
    hosts = tuple(_host(seed, index) for index in range(scale.hosts))
    return Fleet(
        seed=seed,
        scale=scale,
        region_id=REGION_ID,
        region_name=REGION_NAME,
        domain_id=uuid_like(mix(seed, salt("domain"))).replace("-", ""),
        hosts=hosts,
        vms=tuple(_vm(seed, index, hosts) for index in range(scale.vms)),
        network_devices=tuple(
            _device(seed, index) for index in range(scale.network_devices)
        ),
        tenants=TENANTS,
    )


def _host(seed: int, index: int) -> Host:
    key = mix(seed, salt("host"), index)
    return Host(
        index=index,
        host_id=uuid_like(key),
        name=f"cna-az{index % 3 + 1}-{index:04d}",
        ip=doc_ip(0, index),
        sn=uuid_like(mix(key, salt("sn"))),
        az=index % 3 + 1,
        rack=f"R{index // 8 + 1:02d}",
        model=pick(key, HOST_MODELS),
    )


def _vm(seed: int, index: int, hosts: tuple[Host, ...]) -> Vm:
    key = mix(seed, salt("vm"), index)
    flavor = pick(key >> 16, list(FLAVORS))
    return Vm(
        index=index,
        vm_id=uuid_like(key),
        name=f"ecs-{index:04d}",
        host=hosts[index % len(hosts)],
        tenant=pick(key >> 8, TENANTS),
        flavor=flavor,
        cores=FLAVORS[flavor],
    )


def _device(seed: int, index: int) -> NetworkDevice:
    res_type, kind = DEVICE_KINDS[index % len(DEVICE_KINDS)]
    return NetworkDevice(
        index=index,
        ip=doc_ip(1, index),
        res_type=res_type,
        name=f"{kind}-{index:03d}",
    )
