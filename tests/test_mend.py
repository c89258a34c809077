from __future__ import annotations

import orjson
import pytest

from harvester.pages import decode


def lines(body: bytes) -> tuple[list[bytes], dict[str, int]]:
    page = decode("e", body)
    return [bytes(r) for r in page.records], dict(page.mended)


def test_clean_pages_are_left_byte_for_byte() -> None:
    body = b'{"total":1,"list":[{"v":"NaN","n":1.50,"s":"\\u2028"}]}'
    assert lines(body) == ([b'{"v":"NaN","n":1.50,"s":"\\u2028"}'], {})


@pytest.mark.parametrize("token", [b"NaN", b"Infinity", b"-Infinity"])
def test_nonfinite_tokens_become_null_and_are_counted(token: bytes) -> None:
    body = b'{"list":[{"a":' + token + b',"b":"' + token + b'"}]}'
    records, mended = lines(body)
    assert records == [b'{"a":null,"b":"' + token + b'"}']
    assert mended == {"nonfinite": 1}


def test_invalid_utf8_becomes_replacement_characters() -> None:
    records, mended = lines(b'{"list":[{"a":"x\xff\xfey"}]}')
    assert orjson.loads(records[0]) == {"a": "x\ufffd\ufffdy"}
    assert mended == {"invalid_utf8": 2}


@pytest.mark.parametrize("raw", [b"\x01", b"\n", b"\r", b"\x1f"])
def test_raw_control_characters_in_strings_are_escaped(raw: bytes) -> None:
    records, mended = lines(b'{"list":[{"a":"x' + raw + b'y"}]}')
    assert orjson.loads(records[0]) == {"a": "x" + raw.decode() + "y"}
    assert b"\n" not in records[0] and b"\r" not in records[0]
    assert mended == {"control_characters": 1}


@pytest.mark.parametrize("char", ["\u2028", "\u2029", "\u0085"])
def test_line_separators_are_escaped_so_a_record_stays_one_line(char: str) -> None:
    body = ('{"list":[{"a":"x' + char + 'y"},{"b":1}]}').encode()
    records, mended = lines(body)
    assert [orjson.loads(r) for r in records] == [{"a": "x" + char + "y"}, {"b": 1}]
    text = b"\n".join(records).decode()
    assert len(text.splitlines()) == 2
    assert mended == {"line_separators": 1}


def test_line_breaks_between_tokens_are_counted() -> None:
    records, mended = lines(b'{"list":[{"a":\r\n1},\n{"b":2}]}')
    assert records == [b'{"a":  1}', b'{"b":2}']
    assert mended == {"line_breaks": 2}


def test_a_huge_record_passes_whole() -> None:
    big = "é" * 300_000
    body = orjson.dumps({"total": 1, "list": [{"blob": big}]})
    records, _ = lines(body)
    assert orjson.loads(records[0]) == {"blob": big}
