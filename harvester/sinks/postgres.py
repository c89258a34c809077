"""PostgreSQL: a table per stream, each unit replaced in one transaction.

Tables live in `sink.schema` (`public` by default), one per stream, named
after it with every other character than a letter, digit or `_` as `_`
(`service_capacity_ecs_vm`), and are created on first use:

    unit text, partition text, window_begin timestamptz,
    window_end timestamptz, ordinal integer, record jsonb,
    primary key (unit, ordinal)

`unit` is the unit key; `ordinal` is the record's place in its unit from
1, so `ORDER BY unit, ordinal` gives the order the site sent; `record` is
the record as jsonb (jsonb keeps every value but not the key order or
spacing; the NDJSON sink keeps the bytes). A record jsonb refuses (one
holding `\\u0000`) fails its unit, as does a server that cannot be
reached: once it could not be, the run's other units fail at once.

A unit's commit is one transaction: delete the unit's earlier rows, copy
its records in with binary COPY, upsert its row of `harvester_checkpoints`
(unit, stream, records, bytes, sha256, committed_at), commit. A crash
before the commit leaves the earlier state whole; a rerun replaces the
unit, never adds to it. Until the commit a unit's records wait in a
spooled temporary file, so memory stays bounded.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import IO, Any
from urllib.parse import urlsplit

import anyio
import asyncpg

from harvester.config import SinkConfig
from harvester.errors import ConfigError
from harvester.pages import Record
from harvester.plan import Unit
from harvester.sinks import Committed, SinkError, Tally

log = logging.getLogger(__name__)

SPOOL_BYTES = 16 << 20
POOL_SIZE = 4
CONNECT_SECONDS = 10.0
CHECKPOINTS = "harvester_checkpoints"
COLUMNS = ("unit", "partition", "window_begin", "window_end", "ordinal", "record")
# One advisory lock serialises table creation between harvesters sharing a
# database: concurrent CREATE TABLE IF NOT EXISTS can collide in pg_type.
DDL_LOCK = 0x6861727665
FAILURES = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)

STREAM_TABLE = """
CREATE TABLE IF NOT EXISTS {table} (
    unit text NOT NULL,
    partition text,
    window_begin timestamptz,
    window_end timestamptz,
    ordinal integer NOT NULL,
    record jsonb NOT NULL,
    PRIMARY KEY (unit, ordinal)
)"""
CHECKPOINT_TABLE = """
CREATE TABLE IF NOT EXISTS {table} (
    unit text PRIMARY KEY,
    stream text NOT NULL,
    records bigint NOT NULL,
    bytes bigint NOT NULL,
    sha256 text NOT NULL,
    committed_at timestamptz NOT NULL
)"""
UPSERT_CHECKPOINT = """
INSERT INTO {table} (unit, stream, records, bytes, sha256, committed_at)
VALUES ($1, $2, $3, $4, $5, now())
ON CONFLICT (unit) DO UPDATE SET
    stream = EXCLUDED.stream, records = EXCLUDED.records,
    bytes = EXCLUDED.bytes, sha256 = EXCLUDED.sha256,
    committed_at = EXCLUDED.committed_at"""


class PostgresWriter:
    """Spools one unit's records until commit, then hands them to the sink."""

    def __init__(self, sink: PostgresSink, unit: Unit) -> None:
        self._sink = sink
        self._unit = unit
        self._spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
        self._tally = Tally()

    def write(self, records: Sequence[Record]) -> None:
        if not records:
            return
        # Records are single lines (harvester.pages), so lines delimit them.
        self._spool.write(self._tally.add(records))

    async def commit(self) -> Committed:
        committed = self._tally.committed(self._sink.location_of(self._unit))
        try:
            await self._sink.store(self._unit, self._spool, committed)
        finally:
            self._spool.close()
        return committed

    async def abort(self) -> None:
        self._spool.close()


class PostgresSink:
    """Writes each stream to its own table, a unit per transaction."""

    def __init__(self, connect: dict[str, Any], schema: str, where: str) -> None:
        # `connect` holds the password: it goes to asyncpg and nowhere else.
        self._connect = connect
        self._schema = schema
        self._where = where
        self._pool: asyncpg.Pool | None = None
        self._unreachable = ""
        self._tables: set[str] = set()
        self._connecting = anyio.Lock()
        self._creating = anyio.Lock()

    @classmethod
    def from_settings(cls, settings: SinkConfig) -> PostgresSink:
        """A sink for the server `settings` name, its password from the environment.

        Raises:
            ConfigError: `sink.password_env` names a variable that is unset.
        """
        password = None
        if settings.password_env:
            password = os.environ.get(settings.password_env)
            if not password:
                raise ConfigError(
                    "sink.password_env",
                    f"set the environment variable {settings.password_env}",
                )
        if settings.dsn:
            parts = urlsplit(settings.dsn)
            where = f"{parts.hostname or 'localhost'}:{parts.port or 5432}"
            where += parts.path or "/"
            connect: dict[str, Any] = {"dsn": settings.dsn}
        else:
            where = f"{settings.host}:{settings.port}/{settings.database}"
            connect = {
                "host": settings.host,
                "port": settings.port,
                "database": settings.database or None,
                "user": settings.user or None,
            }
        return cls({**connect, "password": password}, settings.schema, where)

    def open(self, unit: Unit) -> PostgresWriter:
        return PostgresWriter(self, unit)

    def location_of(self, unit: Unit) -> str:
        """Where `unit`'s rows are: server, database and table, no credentials."""
        return f"postgresql://{self._where}#{self._schema}.{table_name(unit)}"

    async def store(self, unit: Unit, spool: IO[bytes], committed: Committed) -> None:
        """Replace `unit`'s rows with the spooled records, in one transaction.

        Raises:
            SinkError: the server could not be reached or refused the unit.
        """
        try:
            pool = await self._ready_pool()
            table = await self._ready_table(pool, unit)
            async with pool.acquire() as connection, connection.transaction():
                await connection.execute(
                    f"DELETE FROM {self._qualified(table)} WHERE unit = $1", unit.key
                )
                if committed.records:
                    await connection.copy_records_to_table(
                        table,
                        schema_name=self._schema,
                        columns=COLUMNS,
                        records=_rows(unit, spool),
                    )
                await connection.execute(
                    UPSERT_CHECKPOINT.format(table=self._qualified(CHECKPOINTS)),
                    unit.key,
                    unit.stream.name,
                    committed.records,
                    committed.bytes,
                    committed.sha256,
                )
        except FAILURES as error:
            raise SinkError(
                unit.key, f"PostgreSQL at {self._where}: {_reason(error)}"
            ) from error

    async def close(self) -> None:
        """Close the connection pool."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def _ready_pool(self) -> asyncpg.Pool:
        async with self._connecting:
            # Once the server could not be reached, the run's other units
            # fail at once instead of each waiting out a connect timeout.
            if self._unreachable:
                raise ConnectionError(self._unreachable)
            if self._pool is None:
                try:
                    self._pool = await self._new_pool()
                except FAILURES as error:
                    self._unreachable = _reason(error)
                    raise
                log.info("PostgreSQL sink connected to %s", self._where)
            return self._pool

    async def _new_pool(self) -> asyncpg.Pool:
        pool = await asyncpg.create_pool(
            min_size=1, max_size=POOL_SIZE, timeout=CONNECT_SECONDS, **self._connect
        )
        try:
            await self._create(pool, CHECKPOINT_TABLE, CHECKPOINTS)
        except BaseException:
            await pool.close()
            raise
        return pool

    async def _ready_table(self, pool: asyncpg.Pool, unit: Unit) -> str:
        table = table_name(unit)
        async with self._creating:
            if table not in self._tables:
                await self._create(pool, STREAM_TABLE, table)
                self._tables.add(table)
        return table

    async def _create(self, pool: asyncpg.Pool, statement: str, table: str) -> None:
        async with pool.acquire() as connection, connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", DDL_LOCK)
            exists = await connection.fetchval(
                "SELECT 1 FROM pg_namespace WHERE nspname = $1", self._schema
            )
            # CREATE SCHEMA needs a grant even when the schema exists.
            if not exists:
                await connection.execute(f"CREATE SCHEMA {_quote(self._schema)}")
            await connection.execute(statement.format(table=self._qualified(table)))

    def _qualified(self, table: str) -> str:
        return f"{_quote(self._schema)}.{_quote(table)}"


def table_name(unit: Unit) -> str:
    """The table of `unit`'s stream: its name with `.` and the like as `_`."""
    return re.sub(r"[^a-z0-9_]", "_", unit.stream.name.lower())


def _rows(unit: Unit, spool: IO[bytes]) -> Iterator[tuple[Any, ...]]:
    window = unit.window
    begin = _moment(window.begin) if window else None
    end = _moment(window.end) if window else None
    spool.seek(0)
    for ordinal, line in enumerate(spool, start=1):
        yield unit.key, unit.partition, begin, end, ordinal, line[:-1].decode()


def _moment(epoch_ms: int) -> datetime:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _reason(error: BaseException) -> str:
    return str(error) or type(error).__name__
