"""Several sinks at once: configured as a list, driven as one."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest

from harvester import catalog, config
from harvester.errors import ConfigError
from harvester.pages import Record
from harvester.plan import Unit, Window
from harvester.sinks import SINKS, Committed, SinkError, create
from harvester.sinks.multi import MultiSink
from harvester.sinks.ndjson import NdjsonSink
from harvester.sinks.parquet import ParquetSink
from harvester.sinks.stdout import StdoutSink

UNIT = Unit(catalog.stream("host_metrics"), "h/1", Window(0, 86_400_000))
PAGES = [[b'{"value":"1"}', b'{"value":"2"}'], [b'{"value":"3"}']]


class Refusing:
    """A sink whose commits fail and whose close fails, counting calls."""

    def __init__(self) -> None:
        self.closed = 0

    def open(self, unit: Unit) -> Refusing:
        return self

    def write(self, records: Sequence[Record]) -> None:
        """Takes the page and drops it."""

    async def commit(self) -> Committed:
        raise SinkError(UNIT.key, "refused")

    async def abort(self) -> None:
        """Nothing to drop."""

    async def close(self) -> None:
        self.closed += 1
        raise SinkError("-", "cannot close")


def sinks(out: Path, target: io.BytesIO) -> list[ParquetSink | NdjsonSink | StdoutSink]:
    return [ParquetSink(out, run_ms=0), NdjsonSink(out), StdoutSink(target)]


def visible(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*") if p.is_file())


async def test_every_sink_gets_every_page_and_commits(tmp_path: Path) -> None:
    target = io.BytesIO()
    parquet, ndjson, stdout = sinks(tmp_path, target)
    writer = MultiSink([parquet, ndjson, stdout]).open(UNIT)
    for page in PAGES:
        writer.write(page)
    committed = await writer.commit()

    # The NDJSON file is the location reported, though Parquet came first.
    assert committed.location == str(ndjson.path_of(UNIT))
    assert committed.records == 3
    lines = Path(committed.location).read_bytes().splitlines()
    assert lines == [record for page in PAGES for record in page]
    table = pq.read_table(parquet.path_of(UNIT)).to_pydict()
    assert table["value__num"] == [1.0, 2.0, 3.0]
    printed = [orjson.loads(line) for line in target.getvalue().splitlines()]
    assert [line["record"] for line in printed] == [{"value": v} for v in "123"]


async def test_an_aborted_unit_leaves_nothing_in_any_sink(tmp_path: Path) -> None:
    target = io.BytesIO()
    writer = MultiSink(sinks(tmp_path, target)).open(UNIT)
    writer.write(PAGES[0])
    await writer.abort()
    assert visible(tmp_path) == []
    assert target.getvalue() == b""


async def test_a_sink_that_fails_fails_the_unit_and_the_others_commit(
    tmp_path: Path,
) -> None:
    ndjson = NdjsonSink(tmp_path)
    writer = MultiSink([Refusing(), ndjson]).open(UNIT)
    writer.write(PAGES[0])
    with pytest.raises(SinkError, match="refused"):
        await writer.commit()
    assert visible(tmp_path) == [ndjson.path_of(UNIT)]


async def test_close_reaches_every_sink_and_reports_a_failure(tmp_path: Path) -> None:
    refusing = [Refusing(), Refusing()]
    with pytest.raises(SinkError, match="cannot close"):
        await MultiSink(refusing).close()
    assert [sink.closed for sink in refusing] == [1, 1]


def test_a_list_of_kinds_makes_a_multi_sink(tmp_path: Path) -> None:
    settings = config.from_mapping({"sink": {"kind": ["ndjson", "parquet"]}})
    assert settings.sink == "ndjson+parquet"
    sink = create(settings.sink, tmp_path, settings=settings.sink_settings)
    assert isinstance(sink, MultiSink)
    assert [type(s) for s in sink.sinks] == [NdjsonSink, ParquetSink]
    assert isinstance(create("ndjson", tmp_path), NdjsonSink)
    assert config.from_mapping({"sink": {"kind": "stdout"}}).sink == "stdout"


def test_every_configurable_kind_has_a_sink() -> None:
    assert set(config.SINK_KINDS) == set(SINKS)


@pytest.mark.parametrize(
    "kind", [[], ["ndjson", "ndjson"], ["ndjson", "csv"], "csv", 3, [3]]
)
def test_bad_kinds_name_the_key(kind: object) -> None:
    with pytest.raises(ConfigError) as caught:
        config.from_mapping({"sink": {"kind": kind}})
    assert caught.value.key == "sink.kind"
