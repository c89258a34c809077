"""Pagers: from a unit to the sequence of its pages, in order.

Offset units fetch their first page alone to learn `total`, then the rest
concurrently, and still hand pages on in order. SDR units run the job
flow: create, poll, then follow markers until the site says it is done.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import orjson

from harvester import catalog
from harvester.catalog import Paging
from harvester.config import SiteConfig
from harvester.errors import InconsistentError, ResponseError, UnitError
from harvester.fetch import Client
from harvester.pages import Page, decode
from harvester.plan import Unit

log = logging.getLogger(__name__)

# Pages of a unit in flight at once, the one being read included. Each
# holds its body in memory, for up to 32 units of a bucket side by side;
# 2 measured as fast as 4 on big pages and kept small pages under their
# limit (benchmarks/README.md).
PAGES_AHEAD = 2
JOB_ATTEMPTS = 3
JOB_POLL_S = (1.0, 2.0, 4.0, 8.0)


class Pager:
    """Pages of units, for one site and client."""

    def __init__(
        self, client: Client, site: SiteConfig, *, job_timeout_s: float = 1800.0
    ) -> None:
        self._client = client
        self._site = site
        self._job_timeout_s = job_timeout_s

    def pages(self, unit: Unit, page_size: int | None) -> AsyncIterator[Page]:
        """Every page of `unit`, in order."""
        paging = unit.stream.endpoint.paging
        if paging is Paging.OFFSET:
            return self._offset_pages(unit, page_size or 100)
        if paging is Paging.JOB:
            return self._job_pages(unit, page_size or 100)
        if paging is Paging.MARKER:
            return self._marker_pages(unit, page_size or 100, {})
        return self._single_page(unit)

    async def _single_page(self, unit: Unit) -> AsyncIterator[Page]:
        yield await self._get(unit, self._query(unit))

    async def _offset_pages(self, unit: Unit, page_size: int) -> AsyncIterator[Page]:
        first = await self._get(unit, self._query(unit, 0, page_size))
        yield first
        if first.total is None:
            async for page in self._offset_until_short(unit, first, page_size):
                yield page
            return

        # A site may cap page_size below what was asked without saying so;
        # the first page shows the size it really serves.
        size = page_size
        if 0 < len(first.records) < min(page_size, first.total):
            size = len(first.records)
        offsets = range(size, first.total, size)
        async for offset, page in self._ahead(unit, offsets, size):
            expected = min(size, first.total - offset)
            if page.total != first.total or len(page.records) != expected:
                raise InconsistentError(
                    unit.key,
                    f"the site changed while paging: total {first.total} -> "
                    f"{page.total}, {len(page.records)} records at offset "
                    f"{offset} where {expected} were due",
                )
            yield page

    async def _offset_until_short(
        self, unit: Unit, first: Page, size: int
    ) -> AsyncIterator[Page]:
        # No `total`: page on until a short page, one request at a time.
        page, offset = first, 0
        while len(page.records) >= size:
            offset += len(page.records)
            page = await self._get(unit, self._query(unit, offset, size))
            yield page

    async def _ahead(
        self, unit: Unit, offsets: range, size: int
    ) -> AsyncIterator[tuple[int, Page]]:
        pending: deque[tuple[int, asyncio.Task[Page]]] = deque()
        remaining = iter(offsets)
        try:
            for offset in remaining:
                query = self._query(unit, offset, size)
                pending.append((offset, asyncio.ensure_future(self._get(unit, query))))
                if len(pending) >= PAGES_AHEAD:
                    head, task = pending.popleft()
                    yield head, await task
            while pending:
                head, task = pending.popleft()
                yield head, await task
        finally:
            for _, task in pending:
                task.cancel()

    async def _marker_pages(
        self, unit: Unit, limit: int, path_params: dict[str, str]
    ) -> AsyncIterator[Page]:
        marker = ""
        while True:
            body = await self._client.call(
                unit.stream.endpoint,
                path_params=path_params,
                body={"marker": marker, "limit": limit},
            )
            page = decode(unit.stream.endpoint.name, body)
            yield page
            # An empty, null or missing marker all mean the data is done.
            if not page.marker or page.marker == marker:
                return
            marker = page.marker

    async def _job_pages(self, unit: Unit, limit: int) -> AsyncIterator[Page]:
        job_id = await self._finished_job(unit)
        path_params = {"domain_id": self._site.domain_id, "job_id": job_id}
        async for page in self._marker_pages(unit, limit, path_params):
            yield page

    async def _finished_job(self, unit: Unit) -> str:
        failed: list[str] = []
        for _ in range(JOB_ATTEMPTS):
            job_id = await self._create_job(unit)
            if await self._await_job(job_id):
                return job_id
            failed.append(job_id)
            log.warning(
                "%s: SDR job %s failed or stalled, creating another", unit.key, job_id
            )
        raise UnitError(unit.key, f"SDR jobs failed or stalled: {', '.join(failed)}")

    async def _create_job(self, unit: Unit) -> str:
        assert unit.window is not None
        body = await self._client.call(
            catalog.SDR_CREATE_JOB,
            path_params={"domain_id": self._site.domain_id},
            body={
                "min_sdr_time": _sdr_time(unit.window.begin),
                "max_sdr_time": _sdr_time(unit.window.end),
            },
        )
        job_id = _field(catalog.SDR_CREATE_JOB.name, body, "job_id")
        return str(job_id)

    async def _await_job(self, job_id: str) -> bool:
        path_params = {"domain_id": self._site.domain_id, "job_id": job_id}
        delays = itertools.chain(JOB_POLL_S, itertools.repeat(JOB_POLL_S[-1]))
        waited = 0.0
        while True:
            body = await self._client.call(
                catalog.SDR_JOB_STATUS, path_params=path_params
            )
            status = str(_field(catalog.SDR_JOB_STATUS.name, body, "status")).lower()
            if status == "success":
                return True
            if status == "failure" or waited > self._job_timeout_s:
                return False
            delay = next(delays)
            await asyncio.sleep(delay)
            waited += delay

    async def _get(self, unit: Unit, query: dict[str, str]) -> Page:
        path_params = (
            dict(unit.stream.fixed) if unit.stream.endpoint.path_params else {}
        )
        if "share_id" in unit.stream.endpoint.path:
            path_params["share_id"] = self._site.project_id or self._site.project_name
        body = await self._client.call(
            unit.stream.endpoint, path_params=path_params, query=query or None
        )
        return decode(unit.stream.endpoint.name, body)

    def _query(
        self, unit: Unit, offset: int | None = None, size: int | None = None
    ) -> dict[str, str]:
        endpoint = unit.stream.endpoint
        path_names = {p.name for p in endpoint.path_params}
        query = {k: v for k, v in unit.stream.fixed.items() if k not in path_names}
        if unit.partition is not None and unit.stream.partition_key:
            query[unit.stream.partition_key] = unit.partition
        if unit.window is not None:
            end = unit.window.end
            if self._site.window_end == "inclusive":
                end -= 1
            query["begin_time"] = str(unit.window.begin)
            query["end_time"] = str(end)
        if offset is not None and size is not None:
            if self._site.offset_unit == "pages":
                offset //= size
            query["offset_value"] = str(offset)
            query["page_size"] = str(size)
        return query


def _sdr_time(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%Y-%m-%d 00:00:00")


def _field(endpoint: str, body: bytes, name: str) -> object:
    try:
        value = orjson.loads(body)[name]
    except (orjson.JSONDecodeError, KeyError, TypeError) as error:
        raise ResponseError(endpoint, f"answer has no {name!r}") from error
    return value
