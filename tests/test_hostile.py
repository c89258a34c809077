"""Hostile responses: every case ends in exact data or a named failed unit."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import orjson
import pytest
from hostile_site import HostileSite, cut_short, hostile_site, page, raw, reset, slow

from harvester import catalog, config
from harvester.config import Secrets, SiteConfig
from harvester.errors import TransientError
from harvester.fetch import Client
from harvester.limits import Buckets
from harvester.manifest import load
from harvester.runner import harvest

SECRETS = Secrets("pw", "code")
ASSETS = catalog.DEVICE_ASSETS.path
ELB = catalog.ELBV3.path
RECORDS = [{"n": i, "name": f"device-{i}"} for i in range(3)]


@pytest.fixture
async def site() -> AsyncIterator[HostileSite]:
    async with hostile_site() as site:
        yield site


async def run(site: HostileSite, out: Path, **run: object) -> dict[str, object]:
    # device_assets allows 60 a minute; a faster budget keeps the suite quick.
    settings = config.from_mapping(
        {
            "site": {"base_url": site.base_url},
            "run": {
                "streams": ["device_assets", "elbv3"],
                "attempts": 3,
                "unit_attempts": 3,
                **run,
            },
            "buckets": {ASSETS: {"limit": 6000, "period": 60}},
        }
    )
    await harvest(settings, SECRETS, out)
    return load(out)


def unit_of(manifest: dict, stream: str) -> dict:  # type: ignore[type-arg]
    [unit] = manifest["streams"][stream]["units"]  # type: ignore[index]
    return unit  # type: ignore[no-any-return]


def written(out: Path, unit: dict) -> list[dict[str, object]]:  # type: ignore[type-arg]
    lines = (out / unit["location"]).read_bytes().splitlines()
    return [orjson.loads(line) for line in lines]


@pytest.mark.parametrize(
    "trouble",
    [
        reset,
        cut_short,
        raw(b"<html><body>502 Bad Gateway</body></html>", 502, "text/html"),
        raw(b'{"error_code": "APIG.0613", "error_msg": "busy"}', 503),
    ],
    ids=["reset-before-body", "cut-during-body", "html-502", "gateway-503"],
)
async def test_transport_and_gateway_trouble_is_retried(
    site: HostileSite, tmp_path: Path, trouble: object
) -> None:
    site.script(ASSETS, trouble, trouble, page(RECORDS))  # type: ignore[arg-type]
    manifest = await run(site, tmp_path)
    assert manifest["failed_units"] == []
    assert written(tmp_path, unit_of(manifest, "device_assets")) == RECORDS
    assert manifest["totals"]["retries"] == 2  # type: ignore[index]


async def test_a_stale_keep_alive_connection_is_retried_by_us(
    site: HostileSite, tmp_path: Path
) -> None:
    # The first answer keeps the connection open; the next request on it
    # finds it closed.
    site.script(ELB, page(RECORDS))
    site.script(ASSETS, reset, page(RECORDS))
    manifest = await run(site, tmp_path)
    assert manifest["failed_units"] == []
    assert manifest["totals"]["requests"] == site.seen[ASSETS] + site.seen[ELB] + 1


@pytest.mark.parametrize(
    "body",
    [
        b"<html>maintenance</html>",
        b'{"total": 3, "list": "not a list"}',
        b'{"total": -3, "list": []}',
        b'{"total": "many", "list": []}',
    ],
    ids=["html-200", "wrong-shape", "negative-total", "text-total"],
)
async def test_an_unusable_200_is_redone_then_fails_only_its_unit(
    site: HostileSite, tmp_path: Path, body: bytes
) -> None:
    site.script(ASSETS, raw(body))
    site.script(ELB, page(RECORDS))
    manifest = await run(site, tmp_path)
    [failed] = manifest["failed_units"]  # type: ignore[misc]
    assert failed["unit"] == "device_assets/snapshot/all"
    assert "device_assets" in failed["error"]
    assert site.seen[ASSETS] == 3
    assert written(tmp_path, unit_of(manifest, "elbv3")) == RECORDS
    assert not list(tmp_path.glob("device_assets/**/*.ndjson"))


async def test_an_unusable_200_once_is_redone_and_succeeds(
    site: HostileSite, tmp_path: Path
) -> None:
    site.script(ASSETS, raw(b"<html>oops</html>"), page(RECORDS))
    manifest = await run(site, tmp_path)
    assert manifest["failed_units"] == []
    assert unit_of(manifest, "device_assets")["attempts"] == 2


async def test_a_missing_total_pages_until_a_short_page(
    site: HostileSite, tmp_path: Path
) -> None:
    full = [{"n": i} for i in range(100)]
    site.script(
        ASSETS, raw(orjson.dumps({"list": full})), raw(b'{"list": [{"n": 100}]}')
    )
    manifest = await run(site, tmp_path)
    assert unit_of(manifest, "device_assets")["records"] == 101


async def test_a_total_that_keeps_moving_marks_the_unit_inconsistent(
    site: HostileSite, tmp_path: Path
) -> None:
    first = page([{"n": i} for i in range(100)], total=150)
    second = page([{"n": i} for i in range(100, 150)], total=151)
    site.script(ASSETS, first, second, first, second, first, second)
    manifest = await run(site, tmp_path)
    [failed] = manifest["failed_units"]  # type: ignore[misc]
    assert failed["status"] == "inconsistent"
    assert "changed while paging" in failed["error"]


async def test_mended_records_are_counted_in_the_manifest(
    site: HostileSite, tmp_path: Path
) -> None:
    body = b'{"total": 2, "list": [{"v": NaN, "s": "a\xffb"}, {"s": "x\xe2\x80\xa8y"}]}'
    site.script(ASSETS, raw(body))
    manifest = await run(site, tmp_path)
    unit = unit_of(manifest, "device_assets")
    assert unit["mended"] == {"nonfinite": 1, "invalid_utf8": 1, "line_separators": 1}
    assert manifest["totals"]["mended"] == unit["mended"]  # type: ignore[index]
    data = (tmp_path / unit["location"]).read_text(encoding="utf-8")
    assert len(data.splitlines()) == 2


async def test_a_record_of_several_hundred_kb_arrives_whole(
    site: HostileSite, tmp_path: Path
) -> None:
    blob = "数据" * 150_000
    site.script(ASSETS, page([{"blob": blob}, {"n": 1}]))
    manifest = await run(site, tmp_path)
    assert written(tmp_path, unit_of(manifest, "device_assets")) == [
        {"blob": blob},
        {"n": 1},
    ]


async def test_time_waiting_for_the_bucket_is_not_a_timeout(site: HostileSite) -> None:
    site.script(ASSETS, page(RECORDS))
    settings = SiteConfig(base_url=site.base_url)
    buckets = Buckets({ASSETS: (2, 1.0)})
    async with aiohttp.ClientSession() as session:
        client = Client(session, settings, SECRETS, buckets, timeout_s=0.3)
        calls = [client.call(catalog.DEVICE_ASSETS) for _ in range(5)]
        loop = asyncio.get_running_loop()
        started = loop.time()
        answers = await asyncio.gather(*calls)
        waited = loop.time() - started
    assert len(answers) == 5
    assert waited > 1.0
    assert buckets.get(ASSETS, 2, 1.0).counters.retries == 0


async def test_time_on_the_wire_is_bounded(site: HostileSite) -> None:
    site.script(ASSETS, slow(1.0, page(RECORDS)))
    settings = SiteConfig(base_url=site.base_url)

    async def no_sleep(_: float) -> None:
        return None

    async with aiohttp.ClientSession() as session:
        client = Client(
            session,
            settings,
            SECRETS,
            Buckets(),
            attempts=2,
            timeout_s=0.2,
            sleep=no_sleep,
        )
        with pytest.raises(TransientError):
            await client.call(catalog.DEVICE_ASSETS)


async def test_a_full_disk_fails_the_unit_with_the_reason(
    site: HostileSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(self: object, records: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("harvester.sinks.ndjson.NdjsonWriter.write", full)
    site.script(ASSETS, page(RECORDS))
    manifest = await run(site, tmp_path)
    reasons = {f["unit"]: f["error"] for f in manifest["failed_units"]}
    assert "No space left on device" in reasons["device_assets/snapshot/all"]
    assert not [p for p in tmp_path.rglob("*.ndjson")]


async def test_a_disk_that_fills_at_commit_leaves_no_temporary_file(
    site: HostileSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(self: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("harvester.sinks.ndjson.NdjsonWriter._make_durable", full)
    site.script(ASSETS, page(RECORDS))
    manifest = await run(site, tmp_path)
    assert len(manifest["failed_units"]) == 2  # type: ignore[arg-type]
    assert not list(tmp_path.rglob(".*.tmp"))
