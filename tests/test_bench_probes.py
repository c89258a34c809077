"""Probes: every stream gets a request the emulated site answers with 200."""

from __future__ import annotations

import time

import pytest
from yarl import URL

from harvester import catalog, config
from harvester.bench.probes import build_probes, page_size_for
from harvester.config import Secrets
from harvester.emulator import EmulatorSettings, running_emulator
from harvester.errors import ConfigError
from harvester.fetch import Client, open_session
from harvester.limits import Buckets

SECRETS = Secrets("bench-password", "bench-app-code")


def test_page_sizes_default_to_the_config_then_the_maximum() -> None:
    stream = catalog.stream("host_metrics")
    assert page_size_for(stream, None, None) == 1000
    assert page_size_for(stream, None, 200) == 200
    assert page_size_for(stream, 10, 200) == 10
    with pytest.raises(ConfigError, match="maximum"):
        page_size_for(stream, 1001, None)


async def test_every_stream_gets_a_valid_request() -> None:
    settings = EmulatorSettings(
        password=SECRETS.password, app_code=SECRETS.app_code, sdr_job_seconds=0.2
    )
    async with running_emulator(settings) as site:
        run = config.from_mapping({"site": {"base_url": site.base_url}})
        async with open_session(run.site) as session:
            client = Client(session, run.site, SECRETS, Buckets())
            streams = list(catalog.STREAMS)
            sizes = {s.name: page_size_for(s, 5, None) for s in streams}
            probes = await build_probes(
                client, run.site, streams, sizes, int(time.time() * 1000)
            )
            headers = client._headers(await client.tokens.token())
            assert len(probes["host_metrics"]) > 1
            for stream in streams:
                for probe in probes[stream.name][:1]:
                    url = URL(probe.url).with_query(probe.query)
                    async with session.request(
                        probe.method, url, data=probe.body, headers=headers
                    ) as response:
                        assert response.status == 200, (stream.name, response.status)
                        await response.read()
