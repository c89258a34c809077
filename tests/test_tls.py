"""TLS: verified by default, against a site CA bundle when one is given."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trustme
from aiohttp import web

from harvester import catalog
from harvester.config import Secrets, SiteConfig
from harvester.errors import UnreachableError
from harvester.fetch import Client, open_session
from harvester.limits import Buckets

TOKEN_BODY = {"token": {"expires_at": "2999-01-01T00:00:00.000000Z"}}


@pytest.fixture
def authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def site(authority: trustme.CA) -> AsyncIterator[str]:
    async def issue(request: web.Request) -> web.Response:
        return web.json_response(
            TOKEN_BODY, status=201, headers={"X-Subject-Token": "t"}
        )

    async def data(request: web.Request) -> web.Response:
        return web.json_response({"total": 0, "list": []})

    app = web.Application()
    app.router.add_post("/v3/auth/tokens", issue)
    app.router.add_get(catalog.ELBV3.path, data)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost").configure_cert(context)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    server = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await server.start()
    yield f"https://localhost:{runner.addresses[0][1]}"
    await runner.cleanup()


async def call(site: SiteConfig) -> bytes:
    async with open_session(site) as session:
        client = Client(session, site, Secrets("p", "c"), Buckets(), attempts=1)
        return await client.call(catalog.ELBV3)


async def test_an_untrusted_certificate_is_refused(site: str) -> None:
    with pytest.raises(UnreachableError, match="certificate"):
        await call(SiteConfig(base_url=site))


async def test_the_site_ca_bundle_is_trusted(
    site: str, authority: trustme.CA, tmp_path: Path
) -> None:
    bundle = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    assert await call(SiteConfig(base_url=site, ca_bundle=str(bundle))) == (
        b'{"total": 0, "list": []}'
    )
