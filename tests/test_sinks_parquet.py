"""The Parquet sink: Hive layout, typed columns, atomic and replacing files."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harvester import catalog, config
from harvester.config import Secrets
from harvester.emulator.server import RunningEmulator, running_emulator
from harvester.emulator.settings import EmulatorSettings
from harvester.plan import Unit, Window
from harvester.runner import harvest
from harvester.sinks import create
from harvester.sinks.columns import TIMESTAMP
from harvester.sinks.parquet import ParquetSink
from harvester.verify import verify

DAY_MS = 86_400_000
RUN_MS = 1_796_317_200_000
UNIT = Unit(catalog.stream("host_metrics"), "h/1", Window(DAY_MS, 2 * DAY_MS))
METRICS = [
    b'{"time_stamp":"1796316600000","value":"50.57","host_id":"h/1"}',
    b'{"time_stamp":"soon","value":" 7 ","extra":[1,{"a":true}]}',
    b'{"time_stamp":1796316700000,"value":"n/a","host_id":null}',
]
SECRETS = Secrets("test-password-123", "test-app-code-456")
# Both sides agree on a faster budget for the 60-a-minute buckets.
FAST = {
    endpoint.bucket: (600, 60.0)
    for endpoint in catalog.ENDPOINTS
    if endpoint.sla.limit == 60
}
STREAMS = [
    "audit_logs",
    "host_metrics",
    "elbv3",
    "external_resources.ecs",
    "server_performance",
]


def files(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*") if p.is_file())


async def commit(sink: ParquetSink, unit: Unit, *pages: list[bytes]) -> Path:
    writer = sink.open(unit)
    for page in pages:
        writer.write(page)
    return Path((await writer.commit()).location)


async def test_a_unit_file_appears_on_commit_in_the_hive_layout(
    tmp_path: Path,
) -> None:
    sink = ParquetSink(tmp_path, run_ms=RUN_MS)
    writer = sink.open(UNIT)
    writer.write(METRICS[:2])
    writer.write(METRICS[2:])
    assert files(tmp_path) == []
    committed = await writer.commit()

    assert files(tmp_path) == [Path(committed.location)]
    assert Path(committed.location).relative_to(tmp_path).parts == (
        "parquet",
        "stream=host_metrics",
        "day=1970-01-02",
        "19700102T000000.000Z_19700103T000000.000Z__host_id-h_1.parquet",
    )
    assert committed.records == 3
    assert committed.bytes == len(b"\n".join(METRICS) + b"\n")


async def test_fields_keep_their_text_beside_typed_columns(tmp_path: Path) -> None:
    location = await commit(ParquetSink(tmp_path, run_ms=RUN_MS), UNIT, METRICS)
    table = pq.read_table(location)

    assert table.column_names == [
        "_unit", "_partition", "_window_begin", "_window_end",
        "time_stamp", "time_stamp__ts", "value", "value__num",
        "host_id", "extra", "_record",
    ]  # fmt: skip
    columns = table.to_pydict()
    assert columns["value"] == ["50.57", " 7 ", "n/a"]
    assert columns["value__num"] == [50.57, 7.0, None]
    assert columns["time_stamp"] == ["1796316600000", "soon", "1796316700000"]
    assert columns["time_stamp__ts"] == [
        datetime(2026, 12, 3, 16, 50, tzinfo=UTC),
        None,
        datetime(2026, 12, 3, 16, 51, 40, tzinfo=UTC),
    ]
    assert columns["extra"] == [None, '[1,{"a":true}]', None]
    assert columns["host_id"] == ["h/1", None, None]
    assert columns["_record"] == [line.decode() for line in METRICS]
    assert set(columns["_unit"]) == {UNIT.key}
    assert set(columns["_partition"]) == {"h/1"}
    assert table.schema.field("time_stamp__ts").type == TIMESTAMP
    assert table.schema.field("value__num").type == pa.float64()


@pytest.mark.parametrize(
    ("stream", "field", "text", "moment"),
    [
        ("audit_logs", "start_time", "2020-11-01 01:13:59", (2020, 11, 1, 1, 13, 59)),
        ("sdr", "begin_time", "20240409231657", (2024, 4, 9, 23, 16, 57)),
        ("server_performance", "time", "2024-01-08 0:00", (2024, 1, 8, 0, 0)),
        ("server_performance", "dates", "2024-01-08", (2024, 1, 8)),
        ("elbv3", "time_stamp", "1718259970000", (2024, 6, 13, 6, 26, 10)),
    ],
)
async def test_times_convert_by_the_format_their_section_shows(
    tmp_path: Path, stream: str, field: str, text: str, moment: tuple[int, ...]
) -> None:
    unit = Unit(catalog.stream(stream), None, Window(0, DAY_MS))
    record = f'{{"{field}":"{text}"}}'.encode()
    location = await commit(ParquetSink(tmp_path, run_ms=RUN_MS), unit, [record])
    [converted] = pq.read_table(location)[f"{field}__ts"].to_pylist()
    assert converted == datetime(*moment, tzinfo=UTC)


async def test_a_rerun_replaces_the_unit_and_an_empty_one_removes_it(
    tmp_path: Path,
) -> None:
    sink = ParquetSink(tmp_path, run_ms=RUN_MS)
    first = await commit(sink, UNIT, METRICS)
    second = await commit(sink, UNIT, METRICS[:1])
    assert first == second
    assert files(tmp_path) == [second]
    assert pq.read_table(second).num_rows == 1

    await commit(sink, UNIT)
    assert files(tmp_path) == []


async def test_an_aborted_unit_leaves_nothing(tmp_path: Path) -> None:
    writer = ParquetSink(tmp_path, run_ms=RUN_MS).open(UNIT)
    writer.write(METRICS)
    await writer.abort()
    assert files(tmp_path) == []


async def test_a_snapshot_unit_is_filed_under_the_run_day(tmp_path: Path) -> None:
    sink = create("parquet", tmp_path, run_ms=RUN_MS)
    assert isinstance(sink, ParquetSink)
    location = await commit(sink, Unit(catalog.stream("elbv3")), [b'{"a":"1"}'])
    assert location.relative_to(tmp_path).parts[1:] == (
        "stream=elbv3",
        "day=2026-12-03",
        "snapshot__all.parquet",
    )
    table = pq.read_table(location).to_pydict()
    assert table["_window_begin"] == [None]
    assert table["_partition"] == [None]


@pytest.fixture
async def site() -> AsyncIterator[RunningEmulator]:
    settings = EmulatorSettings(
        password=SECRETS.password, app_code=SECRETS.app_code, limits=FAST
    )
    async with running_emulator(settings) as emulator:
        yield emulator


async def test_a_harvest_reads_back_in_duckdb_as_verify_expects(
    site: RunningEmulator, tmp_path: Path
) -> None:
    buckets = {path: {"limit": n, "period": w} for path, (n, w) in FAST.items()}
    run = config.from_mapping(
        {
            "site": {"base_url": site.base_url},
            "run": {"since": "-1d", "until": "now", "window": "6h", "streams": STREAMS},
            "sink": {"kind": ["parquet", "ndjson"]},
            "buckets": buckets,
        }
    )
    outcome = await harvest(run, SECRETS, tmp_path)
    assert outcome.report.failed_units == []
    checks = await verify(tmp_path, site.base_url)
    assert [check.stream for check in checks if not check.exact] == []

    dataset = f"{tmp_path}/parquet/*/*/*.parquet"
    query = f"read_parquet('{dataset}', hive_partitioning = true, union_by_name = true)"
    counts = dict(
        duckdb.sql(f"SELECT stream, count(*) FROM {query} GROUP BY stream").fetchall()
    )
    assert counts == {check.stream: check.expected for check in checks}
    assert all(counts.values())

    kinds = dict(
        duckdb.sql(
            "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM "
            f"{query} WHERE stream = 'host_metrics')"
        ).fetchall()
    )
    assert kinds["value__num"] == "DOUBLE"
    assert kinds["time_stamp__ts"] == "TIMESTAMP WITH TIME ZONE"
    assert kinds["day"] == "DATE"
