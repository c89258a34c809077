"""The catalog: every operation of the ESM API reference, as data.

Each `Endpoint` is one documented operation (method + path) with its
parameters, paging, window and SLA row; each `Stream` is an endpoint plus
fixed parameter values, the series of records the harvester emits. Adding
an endpoint means adding an entry here; nothing else names paths.

Section numbers refer to the ESM API Reference 25.3.0 (issue 06). Points
where the reference contradicts itself are listed in CLARIFICATIONS.md with
the reading taken here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

API = "/rest/dataapi/homs/open-api"


class Paging(StrEnum):
    """How an endpoint hands out its records."""

    OFFSET = "offset"
    MARKER = "marker"
    JOB = "job"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Sla:
    """One endpoint's documented SLA row.

    `limit` requests are allowed in any sliding window of `period` seconds.
    """

    limit: int
    period: float
    tp50_ms: float | None
    tp999_ms: float | None
    success_rate: float | None
    tier: int | None
    documented: bool = True


@dataclass(frozen=True, slots=True)
class Param:
    """One documented query, path or body parameter."""

    name: str
    kind: str
    required: bool = False
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] = ()
    pattern: str | None = None


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One documented API operation.

    `path` is the template the harvester sends; `aliases` are other
    spellings of it found in the reference, which a site may serve too.
    """

    name: str
    section: str
    method: str
    path: str
    sla: Sla
    paging: Paging = Paging.NONE
    windowed: bool = False
    page_size_max: int | None = None
    query: tuple[Param, ...] = ()
    path_params: tuple[Param, ...] = ()
    body: tuple[Param, ...] = ()
    aliases: tuple[str, ...] = ()

    @property
    def bucket(self) -> str:
        """The rate budget this endpoint draws on: one per path template."""
        return self.path


@dataclass(frozen=True, slots=True)
class Stream:
    """One series of records: an endpoint plus fixed parameter values.

    `parent` names the stream whose records list this stream's partitions
    (`partition_key` taken from each parent record's `partition_field`).
    """

    name: str
    endpoint: Endpoint
    fixed: MappingProxyType[str, str] = field(
        default_factory=lambda: MappingProxyType({})
    )
    page_size_max: int | None = None
    parent: str | None = None
    partition_key: str | None = None
    partition_field: str | None = None

    @property
    def page_size(self) -> int | None:
        """The documented maximum page size for this stream."""
        return self.page_size_max or self.endpoint.page_size_max

    @property
    def bucket(self) -> str:
        return self.endpoint.bucket

    def describe(self) -> dict[str, Any]:
        """The stream as a plain JSON-ready mapping."""
        endpoint = self.endpoint
        return {
            "stream": self.name,
            "endpoint": endpoint.name,
            "section": endpoint.section,
            "method": endpoint.method,
            "path": endpoint.path,
            "fixed": dict(self.fixed),
            "bucket": endpoint.bucket,
            "limit": endpoint.sla.limit,
            "period_s": endpoint.sla.period,
            "paging": endpoint.paging.value,
            "windowed": endpoint.windowed,
            "page_size_max": self.page_size,
            "parent": self.parent,
            "partition_key": self.partition_key,
            "tp50_ms": endpoint.sla.tp50_ms,
            "tp999_ms": endpoint.sla.tp999_ms,
            "success_rate": endpoint.sla.success_rate,
        }


TIER1 = Sla(4000, 1.0, 2.0, 5.0, 0.999, 1)
TIER2 = Sla(60, 60.0, 200.0, 300.0, 0.99, 2)
# The reference gives no SLA for the health, SDR and IAM operations; the
# strictest documented budget is assumed so that a real site is never hit
# harder than its slowest documented bucket.
UNDOCUMENTED = Sla(60, 60.0, None, None, None, None, documented=False)

WINDOW = (Param("begin_time", "int", True), Param("end_time", "int", True))


def _offset(cap: int | None, *, required: bool = True) -> tuple[Param, ...]:
    return (
        Param("page_size", "int", required, 0, cap),
        Param("offset_value", "int", required, 0),
    )


IAM_TOKEN = Endpoint(
    name="iam.token",
    section="3.2",
    method="POST",
    path="/v3/auth/tokens",
    sla=UNDOCUMENTED,
)

SERVICE_HEALTH = Endpoint(
    name="service_health",
    section="4.1.1",
    method="POST",
    path="/rest/dlvapp-engine/v1/screens/data/{share_id}",
    sla=UNDOCUMENTED,
    path_params=(Param("share_id", "string", True),),
)

PHYSICAL_CAPACITY = Endpoint(
    name="physical_capacity",
    section="4.1.2",
    method="GET",
    path=f"{API}/v1/host-physical/capacity",
    sla=TIER2,
    paging=Paging.OFFSET,
    windowed=True,
    page_size_max=1000,
    query=(
        Param("device_type", "string", choices=("ECS", "EVS")),
        Param("zone_type", "string", choices=("manage", "pod")),
        *WINDOW,
        *_offset(1000),
    ),
)

SERVICE_CAPACITY = Endpoint(
    name="service_capacity",
    section="4.1.3",
    method="GET",
    path=f"{API}/v1/CloudService/capacity",
    sla=TIER2,
    paging=Paging.OFFSET,
    windowed=True,
    # 4.1.3.1-10 document 100 for most service types and 1000 for EIP and
    # RDS; the per-stream caps below carry the difference.
    page_size_max=100,
    query=(
        *WINDOW,
        Param("service_type", "string"),
        Param("zone_type", "string"),
        *_offset(1000),
    ),
)

AUDIT_LOGS = Endpoint(
    name="audit_logs",
    section="4.1.4",
    method="GET",
    path=f"{API}/v1/cloudAuditlog",
    sla=TIER2,
    paging=Paging.OFFSET,
    windowed=True,
    page_size_max=100,
    query=(Param("log_type", "string", choices=("0", "1")), *WINDOW, *_offset(100)),
)

DEVICE_ASSETS = Endpoint(
    name="device_assets",
    section="4.1.5",
    method="GET",
    path=f"{API}/v1/DeviceAsset/info",
    sla=TIER2,
    paging=Paging.OFFSET,
    page_size_max=100,
    query=(Param("device_type", "string"), *_offset(100)),
)

CLOUD_SERVICE_ALARMS = Endpoint(
    name="cloud_service_alarms",
    section="4.1.6",
    method="GET",
    path=f"{API}/v1/CloudServiceAlarm/info",
    sla=TIER2,
    paging=Paging.OFFSET,
    windowed=True,
    page_size_max=1000,
    query=(
        Param("cleared", "string", choices=("0", "1")),
        Param("service_type", "string", choices=("ECS", "EVS")),
        *WINDOW,
        *_offset(1000),
    ),
)

HARDWARE_ALARMS = Endpoint(
    name="hardware_alarms",
    section="4.1.7",
    method="GET",
    path=f"{API}/v1/DeviceAlarm/info",
    sla=TIER2,
    paging=Paging.OFFSET,
    windowed=True,
    page_size_max=100,
    query=(
        Param("cleared", "string", choices=("0", "1")),
        Param("service_type", "string", choices=("Server", "Network")),
        *WINDOW,
        *_offset(100),
    ),
)

HOST_METRICS = Endpoint(
    name="host_metrics",
    section="4.1.8",
    method="GET",
    path=f"{API}/v1/host/metricdata",
    sla=TIER1,
    paging=Paging.OFFSET,
    windowed=True,
    page_size_max=1000,
    query=(Param("host_id", "string", True), *WINDOW, *_offset(1000, required=False)),
)

SERVER_PERFORMANCE = Endpoint(
    name="server_performance",
    section="4.1.9",
    method="GET",
    path=f"{API}/v1/host/performancedata",
    sla=TIER1,
    paging=Paging.OFFSET,
    windowed=True,
    page_size_max=1000,
    query=(Param("sn", "string"), *WINDOW, *_offset(1000, required=False)),
)


def _tenant_resources(kind: str, section: str, spelling: str) -> Endpoint:
    path = f"{API}/v1/{spelling}/InstanceData/{kind}"
    usual = f"{API}/v1/TenantCloudResource/InstanceData/{kind}"
    return Endpoint(
        name=f"tenant_resources.{kind.lower()}",
        section=section,
        method="GET",
        path=path,
        aliases=() if path == usual else (usual,),
        sla=TIER1,
    )


TENANT_RESOURCES = (
    # 4.1.10.1 spells the path "TanentCloudResource"; its siblings spell it
    # "TenantCloudResource". The documented spelling is sent, the other is
    # kept as an alias.
    _tenant_resources("ECS", "4.1.10.1", "TanentCloudResource"),
    _tenant_resources("EVS", "4.1.10.2", "TenantCloudResource"),
    _tenant_resources("OBS", "4.1.10.3", "TenantCloudResource"),
    _tenant_resources("BMS", "4.1.10.4", "TenantCloudResource"),
)

ELBV3 = Endpoint(
    name="elbv3",
    section="4.1.11",
    method="GET",
    path=f"{API}/v1/network/capacity/elbv3",
    aliases=(f"{API}/v1/cloudresource/elbv3",),
    sla=TIER1,
    paging=Paging.OFFSET,
    page_size_max=1000,
    query=_offset(1000),
)

EXTERNAL_RESOURCE_TYPES = (
    "ECS", "EVS", "EIP", "OBS", "BMS", "ELB", "VPN", "DCS", "DMS", "RDS",
    "GAUSS", "MODEL_ARTS_INF", "MODEL_ARTS_TRAIN", "MODEL_ARTS_MAOOS",
)  # fmt: skip

EXTERNAL_RESOURCES = Endpoint(
    name="external_resources",
    section="4.1.12",
    method="GET",
    path=f"{API}/v2/cloudresource/instancedata/{{resource_type}}",
    sla=TIER1,
    paging=Paging.OFFSET,
    windowed=True,
    page_size_max=1000,
    path_params=(
        Param("resource_type", "string", True, choices=EXTERNAL_RESOURCE_TYPES),
    ),
    query=(*WINDOW, *_offset(1000, required=False)),
)

# 4.1.13, 4.1.14, 4.1.15 and 4.1.16 document only "Default value: 500" for
# page_size; no maximum. 500 is the one size the reference vouches for.
NETWORK_DEVICE_METRICS = Endpoint(
    name="network_device_metrics",
    section="4.1.13",
    method="GET",
    path=f"{API}/v1/network-device/metric-data",
    sla=TIER1,
    paging=Paging.OFFSET,
    windowed=True,
    page_size_max=500,
    query=(
        *WINDOW,
        *_offset(None),
        Param("management_ip", "string"),
        Param(
            "metric",
            "string",
            choices=("59", "60", "14", "18", "101", "102", "61", "52"),
        ),
    ),
)

HOST_DETAILS = Endpoint(
    name="host_details",
    section="4.1.14",
    method="GET",
    path=f"{API}/v1/host/detail",
    sla=TIER1,
    paging=Paging.OFFSET,
    windowed=True,
    page_size_max=500,
    query=(*WINDOW, *_offset(None), Param("host_id", "string")),
)

VM_PERFORMANCE = Endpoint(
    name="vm_performance",
    section="4.1.15",
    method="GET",
    path=f"{API}/v1/ecs/performance",
    sla=TIER1,
    paging=Paging.OFFSET,
    windowed=True,
    page_size_max=500,
    query=(*WINDOW, *_offset(None), Param("vm_id", "string")),
)

HOST_VMS = Endpoint(
    name="host_vms",
    section="4.1.16",
    method="GET",
    path=f"{API}/v1/host/vms",
    sla=TIER1,
    paging=Paging.OFFSET,
    page_size_max=500,
    query=(*_offset(None), Param("host_id", "string", True)),
)

DOMAIN_ID = Param("domain_id", "string", True, pattern=r"^[-_0-9a-zA-Z]{0,36}$")
JOB_ID = Param("job_id", "string", True, pattern=r"^[-_0-9a-zA-Z]{0,36}$")
SDR_TIME = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"

SDR_CREATE_JOB = Endpoint(
    name="sdr.create_job",
    section="4.2.1",
    method="POST",
    path="/meter/v1/{domain_id}/query-jobs",
    sla=UNDOCUMENTED,
    path_params=(DOMAIN_ID,),
    body=(
        Param("hcso_id", "string", pattern=r"^[-_0-9a-zA-Z]{0,36}$"),
        Param("region_id", "string", pattern=r"^[-_0-9a-zA-Z]{0,255}$"),
        Param("min_sdr_time", "string", pattern=SDR_TIME),
        Param("max_sdr_time", "string", pattern=SDR_TIME),
    ),
)

SDR_JOB_STATUS = Endpoint(
    name="sdr.job_status",
    section="4.2.2",
    method="GET",
    path="/meter/v1/{domain_id}/query-jobs/{job_id}",
    sla=UNDOCUMENTED,
    path_params=(JOB_ID, DOMAIN_ID),
)

SDR_JOB_DATA = Endpoint(
    name="sdr.job_data",
    section="4.2.3",
    # The heading says POST, the sample says GET; POST carries the body the
    # operation documents, so POST is sent.
    method="POST",
    path="/meter/v1/{domain_id}/query-jobs/{job_id}/sdr",
    sla=UNDOCUMENTED,
    paging=Paging.JOB,
    windowed=True,
    page_size_max=200,
    path_params=(JOB_ID, DOMAIN_ID),
    body=(
        Param("marker", "string", pattern=r"^[-_+=0-9a-zA-Z]{0,200}$"),
        Param("limit", "int", minimum=1, maximum=200),
    ),
)

ENDPOINTS: tuple[Endpoint, ...] = (
    IAM_TOKEN,
    SERVICE_HEALTH,
    PHYSICAL_CAPACITY,
    SERVICE_CAPACITY,
    AUDIT_LOGS,
    DEVICE_ASSETS,
    CLOUD_SERVICE_ALARMS,
    HARDWARE_ALARMS,
    HOST_METRICS,
    SERVER_PERFORMANCE,
    *TENANT_RESOURCES,
    ELBV3,
    EXTERNAL_RESOURCES,
    NETWORK_DEVICE_METRICS,
    HOST_DETAILS,
    VM_PERFORMANCE,
    HOST_VMS,
    SDR_CREATE_JOB,
    SDR_JOB_STATUS,
    SDR_JOB_DATA,
)

# 4.1.3.1-10: the documented service_type values, with the page-size cap
# each subsection gives.
SERVICE_TYPES = {
    "ECS_VM": 100, "BMS": 100, "EVS": 100, "OBS": 100, "EIP": 1000,
    "RDS": 1000, "DCC": 100, "DeH": 100, "SFS": 100, "VPN": 100,
}  # fmt: skip


def _fixed(**values: str) -> MappingProxyType[str, str]:
    return MappingProxyType(values)


def _streams() -> tuple[Stream, ...]:
    streams = [Stream("service_health", SERVICE_HEALTH)]
    streams += [
        Stream(f"physical_capacity.{kind.lower()}", PHYSICAL_CAPACITY,
               _fixed(device_type=kind))
        for kind in ("ECS", "EVS")
    ]  # fmt: skip
    streams += [
        Stream(f"service_capacity.{kind.lower()}", SERVICE_CAPACITY,
               _fixed(service_type=kind), page_size_max=cap)
        for kind, cap in SERVICE_TYPES.items()
    ]  # fmt: skip
    streams += [
        Stream("audit_logs", AUDIT_LOGS),
        Stream("device_assets", DEVICE_ASSETS),
        Stream("cloud_service_alarms", CLOUD_SERVICE_ALARMS),
        Stream("hardware_alarms", HARDWARE_ALARMS),
        Stream("host_details", HOST_DETAILS),
        Stream(
            "host_metrics",
            HOST_METRICS,
            parent="host_details",
            partition_key="host_id",
            partition_field="HOST_ID",
        ),
        Stream(
            "host_vms",
            HOST_VMS,
            parent="host_details",
            partition_key="host_id",
            partition_field="HOST_ID",
        ),
        Stream("server_performance", SERVER_PERFORMANCE),
    ]
    streams += [Stream(endpoint.name, endpoint) for endpoint in TENANT_RESOURCES]
    streams.append(Stream("elbv3", ELBV3))
    streams += [
        Stream(f"external_resources.{kind.lower()}", EXTERNAL_RESOURCES,
               _fixed(resource_type=kind))
        for kind in EXTERNAL_RESOURCE_TYPES
    ]  # fmt: skip
    streams += [
        Stream("network_device_metrics", NETWORK_DEVICE_METRICS),
        Stream("vm_performance", VM_PERFORMANCE),
        Stream("sdr", SDR_JOB_DATA),
    ]
    return tuple(streams)


STREAMS: tuple[Stream, ...] = _streams()
STREAMS_BY_NAME: MappingProxyType[str, Stream] = MappingProxyType(
    {stream.name: stream for stream in STREAMS}
)
ENDPOINTS_BY_NAME: MappingProxyType[str, Endpoint] = MappingProxyType(
    {endpoint.name: endpoint for endpoint in ENDPOINTS}
)


def stream(name: str) -> Stream:
    """The stream called `name`.

    Raises:
        KeyError: no stream has that name.
    """
    return STREAMS_BY_NAME[name]
