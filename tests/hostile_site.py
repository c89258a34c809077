"""A site that misbehaves on cue, for the engine's hostile-response tests.

It issues IAM tokens like a real site, then answers each data request to a
path with the next scripted behaviour queued for that path (the last one
repeats). Behaviours are plain coroutines taking the request.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import orjson
from aiohttp import web

Behaviour = Callable[[web.Request], Awaitable[web.StreamResponse]]
TOKEN = "MII" + "t" * 3000


@dataclass
class HostileSite:
    """The scripted site; `base_url` is set once it listens."""

    base_url: str = ""
    scripts: dict[str, list[Behaviour]] = field(
        default_factory=lambda: defaultdict(list)
    )
    seen: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def script(self, path: str, *behaviours: Behaviour) -> None:
        """Answer requests to `path` with `behaviours` in turn."""
        self.scripts[path].extend(behaviours)

    async def _issue(self, request: web.Request) -> web.Response:
        body = {"token": {"expires_at": "2999-01-01T00:00:00.000000Z"}}
        return web.json_response(body, status=201, headers={"X-Subject-Token": TOKEN})

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        script = self.scripts.get(path)
        if not script:
            return web.json_response({"total": 0, "list": []})
        index = min(self.seen[path], len(script) - 1)
        self.seen[path] += 1
        return await script[index](request)


def page(records: list[dict[str, object]], total: object | None = None) -> Behaviour:
    """Answer one page holding `records` (and `total`, by default their count)."""
    body = {"total": len(records) if total is None else total, "list": records}
    return raw(orjson.dumps(body))


def raw(
    body: bytes, status: int = 200, content_type: str = "application/json"
) -> Behaviour:
    """Answer `body` as it is."""

    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=body, status=status, content_type=content_type)

    return answer


async def reset(request: web.Request) -> web.StreamResponse:
    """Close the connection without answering."""
    assert request.transport is not None
    request.transport.close()
    return web.Response()


async def cut_short(request: web.Request) -> web.StreamResponse:
    """Promise a long body, send part of it, and close."""
    response = web.StreamResponse(headers={"Content-Length": "1000"})
    await response.prepare(request)
    await response.write(b'{"total": 3, "list": [{"a"')
    assert request.transport is not None
    request.transport.close()
    return response


def slow(seconds: float, then: Behaviour) -> Behaviour:
    """Hold the answer for `seconds`, then answer as `then` does."""

    async def answer(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(seconds)
        return await then(request)

    return answer


@asynccontextmanager
async def hostile_site() -> AsyncIterator[HostileSite]:
    """Serve a `HostileSite` on a free loopback port."""
    site = HostileSite()
    app = web.Application()
    app.router.add_post("/v3/auth/tokens", site._issue)
    app.router.add_route("*", "/{tail:.*}", site._answer)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    port = runner.addresses[0][1]
    site.base_url = f"http://127.0.0.1:{port}"
    try:
        yield site
    finally:
        await runner.cleanup()
