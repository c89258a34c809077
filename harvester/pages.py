"""Reading a page: records kept as the exact bytes the site sent.

A page is decoded once, by msgspec, into raw slices of its record list;
the slices are validated JSON and are written as they came, so every
number and string reaches the sink exactly as the site sent it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec

from harvester.errors import ResponseError
from harvester.mend import mend_body, mend_line_breaks, needs_mending


class _Body(msgspec.Struct):
    """Every shape of page the API answers with; unknown keys are ignored."""

    total: int | str | None = None
    records: list[msgspec.Raw] | None = msgspec.field(name="list", default=None)
    data: list[msgspec.Raw] | None = None
    marker: str | None = None


_DECODER = msgspec.json.Decoder(_Body)

# One record's JSON bytes: a raw slice of its page, or a mended copy.
Record = bytes | msgspec.Raw


@dataclass(frozen=True, slots=True)
class Page:
    """One decoded page: its records, the site's `total` and SDR `marker`.

    `mended` counts what the mending policy changed (see `harvester.mend`).
    """

    records: Sequence[Record]
    total: int | None
    marker: str | None
    size: int
    mended: Counter[str]


def decode(endpoint: str, body: bytes) -> Page:
    """Decode one page body, mending it where the policy says.

    Raises:
        ResponseError: the body is not JSON even once mended, has the wrong
            shape, or states a `total` that is not a whole number >= 0.
    """
    mended: Counter[str] = Counter()
    if needs_mending(body):
        body = mend_body(body, mended)
    try:
        parsed = _parse(endpoint, body)
    except ResponseError:
        repaired = mend_body(body, mended)
        if repaired == body:
            raise
        body = repaired
        parsed = _parse(endpoint, body)
    records = parsed.records if parsed.records is not None else parsed.data or []
    return Page(
        records=_single_lines(records, body, mended),
        total=_total(endpoint, parsed.total),
        marker=parsed.marker,
        size=len(body),
        mended=mended,
    )


def _parse(endpoint: str, body: bytes) -> _Body:
    try:
        return _DECODER.decode(body)
    except msgspec.ValidationError as error:
        raise ResponseError(endpoint, f"page of the wrong shape: {error}") from error
    except msgspec.DecodeError as error:
        raise ResponseError(endpoint, f"page is not JSON: {error}") from error


def _single_lines(
    records: list[msgspec.Raw], body: bytes, mended: Counter[str]
) -> Sequence[Record]:
    # A raw line break inside a JSON string is invalid, so any CR or LF in
    # a validated slice sits between tokens and may become a space.
    if b"\n" not in body and b"\r" not in body:
        return records
    lines: list[Record] = []
    for record in records:
        raw = bytes(record)
        broken = b"\n" in raw or b"\r" in raw
        lines.append(mend_line_breaks(raw, mended) if broken else record)
    return lines


def _total(endpoint: str, value: int | str | None) -> int | None:
    # 4.1.5-4.1.7 send `total` as a string; elsewhere it is a number.
    if value is None:
        return None
    try:
        total = int(value)
    except ValueError:
        raise ResponseError(endpoint, f"total is not a number: {value!r}") from None
    if total < 0:
        raise ResponseError(endpoint, f"total is negative: {total}")
    return total
