"""SDR records (4.2): hourly usage records per metered resource.

An SDR job covers whole UTC days; only the date part of its bounds counts
and the end date is exclusive, as DESIGN.md records of real sites.
"""

from __future__ import annotations

import orjson

from harvester.emulator.data.fleet import Fleet
from harvester.emulator.data.formats import DAY_MS, HOUR_MS, compact_time
from harvester.emulator.data.series import Item, TimedSeries, Window
from harvester.emulator.hashing import hex_id, mix, pick, salt, uuid_like

# (cloud service type, resource type, spec codes) of metered resources.
METERED = (
    ("hws.service.type.ec2", "hws.resource.type.vm", ("s6.large.2", "c6.xlarge.4")),
    ("hws.service.type.ebs", "hws.resource.type.volume", ("SSD", "SAS")),
    ("hws.service.type.vpc", "hws.resource.type.ip", ("5_bgp",)),
)


def day_window(begin_ms: int, end_ms: int) -> Window:
    """The UTC days [day of begin, day of end) as an inclusive window."""
    return Window(begin_ms // DAY_MS * DAY_MS, end_ms // DAY_MS * DAY_MS - 1)


def build(fleet: Fleet) -> dict[str, TimedSeries]:
    """The SDR series, keyed by the catalog endpoint that serves it."""
    key = mix(fleet.seed, salt("sdr"))
    items = [Item(n, {}, pick(n, METERED)) for n in range(fleet.scale.sdr_resources)]

    def render(stamp: int, item: Item) -> bytes:
        service, resource_type, specs = item.subject
        resource = mix(key, item.index)
        serial = mix(resource, stamp)
        return orjson.dumps(
            {
                "sdr_id": hex_id(serial),
                "record_type": "20",
                "domain_id": fleet.domain_id,
                "region_code": fleet.region_id,
                "az_code": f"{fleet.region_id}{'abc'[resource % 3]}",
                "cloud_service_type_code": service,
                "resource_type_code": resource_type,
                "resource_id": uuid_like(resource),
                "resource_spec_code": pick(resource >> 4, specs),
                "accumulate_factor_name": "Duration",
                "accumulate_factor_value": "3600",
                "begin_time": compact_time(stamp - HOUR_MS),
                "end_time": compact_time(stamp),
                "tenant_name": pick(resource >> 8, fleet.tenants),
            }
        )

    return {"sdr.job_data": TimedSeries("sdr", HOUR_MS, items, render)}
