"""The PostgreSQL sink against a real, throwaway PostgreSQL server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import anyio
import asyncpg
import orjson
import pytest
from anyio.abc import Process
from postgres_server import PostgresServer, Unavailable

from harvester import catalog, config, manifest
from harvester.config import Secrets, SinkConfig
from harvester.emulator.server import RunningEmulator, running_emulator
from harvester.emulator.settings import EmulatorSettings
from harvester.errors import ConfigError
from harvester.plan import Unit, Window
from harvester.runner import harvest
from harvester.sinks import SinkError, create
from harvester.sinks.postgres import PostgresSink

PASSWORD_ENV = "HARVESTER_TEST_PG_PASSWORD"
UNIT = Unit(catalog.stream("host_metrics"), "h/1", Window(0, 86_400_000))
STREAMS = ["audit_logs", "host_metrics", "network_device_metrics"]
SECRETS = Secrets("test-password-123", "test-app-code-456")
# Both sides agree on a faster budget for the 60-a-minute buckets.
FAST = {
    endpoint.bucket: (600, 60.0)
    for endpoint in catalog.ENDPOINTS
    if endpoint.sla.limit == 60
}


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    try:
        running = PostgresServer.start()
    except Unavailable as reason:
        pytest.skip(f"no PostgreSQL server: {reason}")
    yield running
    running.stop()


@pytest.fixture
def settings(server: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> SinkConfig:
    monkeypatch.setenv(PASSWORD_ENV, server.password)
    schema = f"test_{uuid.uuid4().hex[:12]}"
    return SinkConfig(dsn=server.dsn, password_env=PASSWORD_ENV, schema=schema)


@pytest.fixture
async def database(
    server: PostgresServer, settings: SinkConfig
) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(server.dsn, password=server.password)
    yield connection
    await connection.execute(f'DROP SCHEMA IF EXISTS "{settings.schema}" CASCADE')
    await connection.close()


async def rows(
    database: asyncpg.Connection, schema: str, table: str
) -> list[asyncpg.Record]:
    return await database.fetch(
        f'SELECT * FROM "{schema}"."{table}" ORDER BY unit, ordinal'
    )


async def store(sink: PostgresSink, unit: Unit, *pages: list[bytes]) -> None:
    writer = sink.open(unit)
    for page in pages:
        writer.write(page)
    await writer.commit()


async def test_a_unit_is_stored_with_its_checkpoint(
    settings: SinkConfig, database: asyncpg.Connection
) -> None:
    sink = create("postgres", Path("unused"), settings=settings)
    writer = sink.open(UNIT)
    writer.write([b'{"a":"1"}', b'{"a":"2"}'])
    writer.write([b'{"b":[1,{"c":null}]}'])
    committed = await writer.commit()
    await sink.close()

    stored = await rows(database, settings.schema, "host_metrics")
    assert [orjson.loads(row["record"]) for row in stored] == [
        {"a": "1"},
        {"a": "2"},
        {"b": [1, {"c": None}]},
    ]
    assert {row["unit"] for row in stored} == {UNIT.key}
    assert [row["ordinal"] for row in stored] == [1, 2, 3]
    assert stored[0]["partition"] == "h/1"
    assert stored[0]["window_end"].timestamp() == 86_400
    [checkpoint] = await rows_of_checkpoints(database, settings.schema)
    assert checkpoint["unit"] == UNIT.key
    assert checkpoint["records"] == committed.records == 3
    assert checkpoint["sha256"] == committed.sha256
    assert committed.location.endswith(f"#{settings.schema}.host_metrics")
    assert "@" not in committed.location


async def rows_of_checkpoints(
    database: asyncpg.Connection, schema: str
) -> list[asyncpg.Record]:
    return await database.fetch(f'SELECT * FROM "{schema}".harvester_checkpoints')


async def test_a_second_commit_replaces_the_first(
    settings: SinkConfig, database: asyncpg.Connection
) -> None:
    sink = PostgresSink.from_settings(settings)
    other = Unit(UNIT.stream, "h/2", UNIT.window)
    await store(sink, UNIT, [b'{"n":1}', b'{"n":2}', b'{"n":3}'])
    await store(sink, other, [b'{"n":9}'])
    await store(sink, UNIT, [b'{"n":4}'])
    await sink.close()

    stored = await rows(database, settings.schema, "host_metrics")
    assert [(row["partition"], row["record"]) for row in stored] == [
        ("h/1", '{"n": 4}'),
        ("h/2", '{"n": 9}'),
    ]
    checkpoints = await rows_of_checkpoints(database, settings.schema)
    assert sorted(row["records"] for row in checkpoints) == [1, 1]


async def test_a_failed_commit_keeps_the_earlier_unit_whole(
    settings: SinkConfig, database: asyncpg.Connection
) -> None:
    sink = PostgresSink.from_settings(settings)
    await store(sink, UNIT, [b'{"n":1}', b'{"n":2}'])
    # Valid JSON that jsonb refuses: the copy fails after the delete ran.
    with pytest.raises(SinkError, match="host_metrics"):
        await store(sink, UNIT, [b'{"n":3}', b'{"bad":"\\u0000"}'])
    await sink.close()

    stored = await rows(database, settings.schema, "host_metrics")
    assert [row["record"] for row in stored] == ['{"n": 1}', '{"n": 2}']
    [checkpoint] = await rows_of_checkpoints(database, settings.schema)
    assert checkpoint["records"] == 2


async def test_an_aborted_unit_leaves_nothing(
    settings: SinkConfig, database: asyncpg.Connection
) -> None:
    sink = PostgresSink.from_settings(settings)
    writer = sink.open(UNIT)
    writer.write([b'{"n":1}'])
    await writer.abort()
    await sink.close()
    assert not await database.fetchval(
        "SELECT count(*) FROM pg_namespace WHERE nspname = $1", settings.schema
    )


async def test_a_wrong_password_fails_the_unit_without_showing_it(
    settings: SinkConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "not-the-password-417")
    sink = PostgresSink.from_settings(settings)
    with pytest.raises(SinkError) as caught:
        await store(sink, UNIT, [b'{"n":1}'])
    # The next unit fails at once, for the same reason.
    other = Unit(catalog.stream("elbv3"))
    with pytest.raises(SinkError, match="password authentication failed"):
        await store(sink, other, [b'{"n":1}'])
    await sink.close()
    assert "not-the-password-417" not in str(caught.value)
    assert "password authentication failed" in str(caught.value)


def test_an_unset_password_variable_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    unset = SinkConfig(host="127.0.0.1", password_env=PASSWORD_ENV)
    with pytest.raises(ConfigError, match=PASSWORD_ENV):
        PostgresSink.from_settings(unset)


@pytest.mark.parametrize(
    ("sink", "key"),
    [
        ({"kind": "postgres"}, "sink.dsn"),
        ({"kind": "postgres", "dsn": "postgresql://u:secret@db/x"}, "sink.dsn"),
        ({"kind": "postgres", "dsn": "postgresql://db/x?password=s"}, "sink.dsn"),
        ({"kind": "postgres", "host": "db", "dsn": "postgresql://db/x"}, "sink.dsn"),
        ({"kind": "postgres", "host": "db", "port": 0}, "sink.port"),
        ({"kind": "postgres", "host": "db", "schema": "Bad-Name"}, "sink.schema"),
    ],
)
def test_bad_postgres_settings_name_the_key(sink: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config.from_mapping({"sink": sink})
    assert caught.value.key == key
    assert "secret" not in str(caught.value)


@pytest.fixture
async def site() -> AsyncIterator[RunningEmulator]:
    settings = EmulatorSettings(
        password=SECRETS.password, app_code=SECRETS.app_code, limits=FAST
    )
    async with running_emulator(settings) as emulator:
        yield emulator


def write_config(path: Path, base_url: str, sink: SinkConfig, kinds: list[str]) -> Path:
    buckets = "".join(
        f'[buckets."{bucket}"]\nlimit = {limit}\nperiod = {period}\n'
        for bucket, (limit, period) in FAST.items()
    )
    path.write_text(
        f'[site]\nbase_url = "{base_url}"\n'
        f'[run]\nsince = "-1d"\nuntil = "now"\nwindow = "2h"\n'
        f"streams = {orjson.dumps(STREAMS).decode()}\n"
        f'[sink]\nkind = {orjson.dumps(kinds).decode()}\ndsn = "{sink.dsn}"\n'
        f'password_env = "{sink.password_env}"\nschema = "{sink.schema}"\n'
        f"{buckets}"
    )
    return path


async def kill_when_committed(
    process: Process, database: asyncpg.Connection, schema: str
) -> None:
    table = f'"{schema}".harvester_checkpoints'
    with anyio.fail_after(60):
        while process.returncode is None:
            exists = await database.fetchval("SELECT to_regclass($1)", table)
            if exists and await database.fetchval(f"SELECT count(*) FROM {table}") > 30:
                process.send_signal(signal.SIGKILL)
                break
            await anyio.sleep(0.02)
        # Killed part way, not finished before the kill.
        assert await process.wait() == -signal.SIGKILL


async def truth(base_url: str, stream: str, entry: dict[str, int]) -> Counter[bytes]:
    params = {
        "stream": stream,
        "begin_time": str(entry["since"]),
        "end_time": str(entry["until"]),
    }
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base_url}/_emulator/truth", params=params) as got:
            return Counter(canonical(line) for line in (await got.read()).splitlines())


def canonical(line: bytes | str) -> bytes:
    return orjson.dumps(orjson.loads(line), option=orjson.OPT_SORT_KEYS)


@pytest.mark.parametrize("kinds", [["postgres"], ["ndjson", "postgres"]])
async def test_a_killed_harvest_resumed_leaves_exactly_the_truth(
    site: RunningEmulator,
    settings: SinkConfig,
    database: asyncpg.Connection,
    tmp_path: Path,
    kinds: list[str],
) -> None:
    # Alone, the sink's units are all redone and replaced on the rerun;
    # beside NDJSON, checkpointed units are skipped and the rest replaced.
    path = write_config(tmp_path / "run.toml", site.base_url, settings, kinds)
    out = tmp_path / "out"
    env = {**os.environ, "ESM_PASSWORD": SECRETS.password}
    env["ESM_APP_CODE"] = SECRETS.app_code
    command = [sys.executable, "-m", "harvester", "-q", "run", "-c", str(path)]
    command += ["--out", str(out)]
    async with await anyio.open_process(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    ) as process:
        await kill_when_committed(process, database, settings.schema)

    outcome = await harvest(config.load(path), SECRETS, out)
    assert outcome.report.failed_units == []

    streams = manifest.load(out)["streams"]
    assert set(STREAMS) <= set(streams)
    for name, entry in streams.items():
        table = name.replace(".", "_")
        stored = await rows(database, settings.schema, table)
        harvested = Counter(canonical(row["record"]) for row in stored)
        expected = await truth(site.base_url, name, entry)
        assert harvested == expected, name
        assert sum(expected.values()) > 0, name
    checkpoints = await rows_of_checkpoints(database, settings.schema)
    units = [u for entry in streams.values() for u in entry["units"]]
    assert len(checkpoints) == len(units)
    assert any(unit["resumed"] for unit in units) == ("ndjson" in kinds)
