"""Admin routes under `/_emulator/`: ground truth and bucket counters.

They are neither throttled, authenticated nor subject to faults: tests
and users read them to check a harvest, not to exercise the site.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping

import orjson
from aiohttp import web

from harvester.catalog import STREAMS_BY_NAME
from harvester.emulator.data import truth
from harvester.emulator.data.series import CHUNK
from harvester.emulator.errors import JSON
from harvester.emulator.gateway import Gateway
from harvester.emulator.settings import EmulatorSettings

logger = logging.getLogger(__name__)

NDJSON = "application/x-ndjson"


def add_routes(
    app: web.Application, settings: EmulatorSettings, gateway: Gateway
) -> None:
    """Register the admin routes on `app`."""

    async def truth_route(request: web.Request) -> web.StreamResponse:
        return await _truth(request, settings)

    async def stats_route(request: web.Request) -> web.Response:
        body = orjson.dumps(gateway.stats())
        return web.Response(body=body, headers={"Content-Type": JSON})

    app.router.add_get("/_emulator/truth", truth_route)
    app.router.add_get("/_emulator/stats", stats_route)


async def _truth(
    request: web.Request, settings: EmulatorSettings
) -> web.StreamResponse:
    query = request.query
    name = query.get("stream", "")
    stream = STREAMS_BY_NAME.get(name)
    if stream is None:
        return _plain(404, f"no stream named {name!r}")
    bounds = _bounds(query, needed=stream.endpoint.windowed)
    if bounds is None:
        return _plain(400, f"{name} needs integer begin_time and end_time")
    begin, end = bounds

    response = web.StreamResponse(headers={"Content-Type": NDJSON})
    await response.prepare(request)
    try:
        await _write_lines(response, truth(name, begin, end, settings))
    except ConnectionError:
        logger.debug("truth reader for %s went away", name)
    return response


async def _write_lines(response: web.StreamResponse, records: Iterator[bytes]) -> None:
    chunk: list[bytes] = []
    for record in records:
        chunk.append(record)
        if len(chunk) >= CHUNK:
            await response.write(b"\n".join(chunk) + b"\n")
            chunk.clear()
    if chunk:
        await response.write(b"\n".join(chunk) + b"\n")
    await response.write_eof()


def _bounds(query: Mapping[str, str], *, needed: bool) -> tuple[int, int] | None:
    # Windowless streams ignore the window, so it may be left out for them.
    default = "" if needed else "0"
    try:
        return int(query.get("begin_time", default)), int(
            query.get("end_time", default)
        )
    except ValueError:
        return None


def _plain(status: int, message: str) -> web.Response:
    return web.Response(status=status, text=message + "\n")
