from __future__ import annotations

import gzip
import hashlib
import io
from pathlib import Path

import orjson

from harvester import catalog
from harvester.plan import Unit, Window
from harvester.sinks import create
from harvester.sinks.ndjson import NdjsonSink
from harvester.sinks.stdout import StdoutSink

UNIT = Unit(catalog.stream("host_metrics"), "h/1", Window(0, 86_400_000))
PAGES = [[b'{"a":1}', b'{"a":2}'], [b'{"a":"\xe2\x80\xa8"}']]


def visible(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*") if p.is_file())


async def test_a_unit_file_appears_only_on_commit(tmp_path: Path) -> None:
    sink = NdjsonSink(tmp_path)
    writer = sink.open(UNIT)
    for page in PAGES:
        writer.write(page)
    assert not [p for p in visible(tmp_path) if not p.name.startswith(".")]
    committed = await writer.commit()
    [path] = visible(tmp_path)
    assert path == sink.path_of(UNIT)
    assert path.relative_to(tmp_path).parts == (
        "host_metrics",
        "19700101T000000.000Z_19700102T000000.000Z",
        "host_id=h_1.ndjson",
    )
    data = path.read_bytes()
    assert data == b'{"a":1}\n{"a":2}\n{"a":"\xe2\x80\xa8"}\n'
    assert committed.records == 3 and committed.bytes == len(data)
    assert committed.sha256 == hashlib.sha256(data).hexdigest()


async def test_an_aborted_unit_leaves_nothing(tmp_path: Path) -> None:
    writer = NdjsonSink(tmp_path).open(UNIT)
    writer.write(PAGES[0])
    await writer.abort()
    assert visible(tmp_path) == []


async def test_gzip_output_reads_back_and_is_reproducible(tmp_path: Path) -> None:
    outputs = []
    for run in ("one", "two"):
        sink = create("ndjson", tmp_path / run, gzip=True)
        writer = sink.open(UNIT)
        for page in PAGES:
            writer.write(page)
        committed = await writer.commit()
        outputs.append(Path(committed.location).read_bytes())
    assert outputs[0] == outputs[1]
    assert gzip.decompress(outputs[0]).count(b"\n") == 3


async def test_stdout_lines_carry_the_stream_and_the_record() -> None:
    target = io.BytesIO()
    sink = StdoutSink(target)
    first, second = sink.open(UNIT), sink.open(Unit(catalog.stream("elbv3")))
    first.write(PAGES[0])
    second.write([b'{"b":1}'])
    await second.abort()
    assert target.getvalue() == b""
    await first.commit()
    lines = [orjson.loads(line) for line in target.getvalue().splitlines()]
    assert lines == [
        {"stream": "host_metrics", "record": {"a": 1}},
        {"stream": "host_metrics", "record": {"a": 2}},
    ]
