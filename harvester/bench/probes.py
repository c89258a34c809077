"""Valid requests for each stream, built from the config and the catalog.

Every request a benchmark sends is one a harvest could send: the stream's
fixed parameters, the last whole hour as its window (settled data, the
usual subject of a harvest), the first page at the asked page size, and
for fan-out streams one of a few partitions listed by the parent stream.
The few requests needed to learn those (the parent's first page, an SDR
job) go through the harvester's own client, budget and retries included.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

import orjson

from harvester import catalog
from harvester.catalog import Paging, Stream
from harvester.config import SiteConfig
from harvester.errors import ConfigError, HarvestError, ResponseError
from harvester.fetch import Client
from harvester.pages import decode

log = logging.getLogger(__name__)

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
PARTITIONS = 8
JOB_WAIT_S = 60.0
JOB_POLL_S = 0.5


@dataclass(frozen=True, slots=True)
class Probe:
    """One ready request: what a benchmark sends, again and again."""

    stream: str
    method: str
    url: str
    query: Mapping[str, str] | None
    body: bytes | None


class ProbeError(HarvestError):
    """Raised when a stream cannot be given a valid request."""


def page_size_for(stream: Stream, asked: int | None, configured: int | None) -> int:
    """The page size to ask for: `asked`, else the config's, else the maximum.

    Raises:
        ConfigError: `asked` is past the stream's documented maximum.
    """
    cap = stream.page_size or 100
    if asked is not None and asked > cap:
        raise ConfigError(
            "--page-size", f"{asked} is past the maximum of {stream.name} ({cap})"
        )
    return asked or configured or cap


async def build_probes(
    client: Client,
    site: SiteConfig,
    streams: Sequence[Stream],
    page_sizes: Mapping[str, int],
    now_ms: int,
) -> dict[str, list[Probe]]:
    """A few valid requests for every stream, learning partitions as needed.

    Raises:
        ProbeError: a fan-out parent lists no partition, or an SDR job
            did not finish in time.
        HarvestError: a set-up request failed.
    """
    end = now_ms // HOUR_MS * HOUR_MS
    window = (end - HOUR_MS, end)
    probes: dict[str, list[Probe]] = {}
    for stream in streams:
        size = page_sizes[stream.name]
        if stream.endpoint.paging is Paging.JOB:
            job_id = await _finished_job(client, site, now_ms)
            probes[stream.name] = [_job_probe(site, stream, job_id, size)]
        elif stream.parent:
            parent = catalog.stream(stream.parent)
            values = await _partitions(client, site, parent, stream, window)
            probes[stream.name] = [
                _probe(site, stream, window, size, value) for value in values
            ]
        else:
            probes[stream.name] = [_probe(site, stream, window, size, None)]
    return probes


def _probe(
    site: SiteConfig,
    stream: Stream,
    window: tuple[int, int],
    size: int,
    partition: str | None,
) -> Probe:
    endpoint = stream.endpoint
    path_names = {param.name for param in endpoint.path_params}
    path_values = {k: v for k, v in stream.fixed.items() if k in path_names}
    if "share_id" in path_names:
        path_values["share_id"] = site.project_id or site.project_name
    query = {k: v for k, v in stream.fixed.items() if k not in path_names}
    if partition is not None and stream.partition_key:
        query[stream.partition_key] = partition
    if endpoint.windowed:
        begin, end = window
        query["begin_time"] = str(begin)
        query["end_time"] = str(end - 1 if site.window_end == "inclusive" else end)
    if endpoint.paging is Paging.OFFSET:
        # The first page: offset 0 reads the same in records and in pages.
        query["offset_value"] = "0"
        query["page_size"] = str(size)
    return Probe(
        stream.name,
        endpoint.method,
        site.base_url + _fill(endpoint.path, path_values),
        query or None,
        None,
    )


def _job_probe(site: SiteConfig, stream: Stream, job_id: str, size: int) -> Probe:
    values = {"domain_id": site.domain_id, "job_id": job_id}
    return Probe(
        stream.name,
        stream.endpoint.method,
        site.base_url + _fill(stream.endpoint.path, values),
        None,
        orjson.dumps({"marker": "", "limit": size}),
    )


async def _partitions(
    client: Client,
    site: SiteConfig,
    parent: Stream,
    child: Stream,
    window: tuple[int, int],
) -> list[str]:
    probe = _probe(site, parent, window, parent.page_size or 100, None)
    body = await client.call(parent.endpoint, query=probe.query)
    field = child.partition_field or ""
    values: list[str] = []
    for record in decode(parent.endpoint.name, body).records:
        value = _field(bytes(record), field)
        if value is not None and value not in values:
            values.append(value)
        if len(values) == PARTITIONS:
            break
    if not values:
        raise ProbeError(
            f"{parent.name} lists no {field} in the last hour, "
            f"so {child.name} has no partition to ask for"
        )
    log.info("%s: %d partitions from %s", child.name, len(values), parent.name)
    return values


async def _finished_job(client: Client, site: SiteConfig, now_ms: int) -> str:
    # Yesterday, a whole UTC day: the SDR job flow counts dates only.
    day = now_ms // DAY_MS * DAY_MS - DAY_MS
    path = {"domain_id": site.domain_id}
    body = await client.call(
        catalog.SDR_CREATE_JOB,
        path_params=path,
        body={"min_sdr_time": _sdr_date(day), "max_sdr_time": _sdr_date(day + DAY_MS)},
    )
    job_id = str(_value(body, "job_id"))
    deadline = time.monotonic() + JOB_WAIT_S
    while time.monotonic() < deadline:
        body = await client.call(
            catalog.SDR_JOB_STATUS, path_params={**path, "job_id": job_id}
        )
        status = str(_value(body, "status")).lower()
        if status == "success":
            return job_id
        if status == "failure":
            raise ProbeError(f"the SDR job {job_id} failed")
        await asyncio.sleep(JOB_POLL_S)
    raise ProbeError(f"the SDR job {job_id} did not finish in {JOB_WAIT_S:g} s")


def _sdr_date(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%Y-%m-%d 00:00:00")


def _value(body: bytes, name: str) -> object:
    try:
        return orjson.loads(body)[name]
    except (orjson.JSONDecodeError, KeyError, TypeError) as error:
        raise ResponseError("sdr", f"answer has no {name!r}") from error


def _field(record: bytes, name: str) -> str | None:
    try:
        value = orjson.loads(record)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(value, dict):
        return None
    lowered = name.lower()
    found = next((v for k, v in value.items() if k.lower() == lowered), None)
    return str(found) if found not in (None, "") else None


def _fill(template: str, values: Mapping[str, str]) -> str:
    return template.format_map({k: quote(v, safe="") for k, v in values.items()})
