"""Arrow columns for records kept as the site sent them, typed where known.

Every top-level field of a record becomes a text column holding the value
as sent: a JSON string's text, or the JSON of any other value (a number,
a boolean, an array); null when the record lacks the field or sends null.
The whole record, byte for byte, is kept in `_record`.

Beside each field whose type the reference documents (a `Long` timestamp,
an `int32` id) or whose sample shows a time or an amount sent as a string,
`TYPED` adds one typed column, by this rule:

- `<field>__ts`, timestamp (ms, UTC): from epoch milliseconds written as
  up to 15 digits (`"1649692800000"`), or from the text format the
  section's sample shows (`2020-11-01 01:13:59`, `20240409231657`,
  `2024-01-08`, `2024-01-08 0:00`), read as UTC;
- `<field>__num`, float64: from a decimal number, blanks around it
  ignored (`"79.81"`, `"-3"`, `"1e3"`); whole numbers are exact up to 2**53.

A value that does not convert leaves its typed column null and its text
column as sent. Fields the reference documents as `int32` but samples as
words (`device_type` of 4.1.5, `operating_source` of 4.1.4) stay text,
and so does a field named like a bookkeeping column (found in `_record`).

Each page is decoded in one msgspec call; conversions run on whole Arrow
columns once per unit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from harvester.pages import Record
from harvester.plan import Unit

TIMESTAMP = pa.timestamp("ms", tz="UTC")
RECORD = "_record"
NUMBER_TEXT = r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$"
EPOCH_MS_TEXT = r"^-?\d{1,15}$"

_DECODER = msgspec.json.Decoder()


@dataclass(frozen=True, slots=True)
class Kind:
    """One typing rule: the typed column's suffix and its conversion."""

    suffix: str
    convert: Callable[[pa.ChunkedArray], pa.ChunkedArray]


def _valid(values: pa.ChunkedArray, pattern: str) -> pa.ChunkedArray:
    text = pc.utf8_trim_whitespace(values)
    matches = pc.match_substring_regex(text, pattern)
    return pc.if_else(matches, text, pa.scalar(None, pa.string()))


def _number(values: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.cast(_valid(values, NUMBER_TEXT), pa.float64())


def _epoch_ms(values: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.cast(pc.cast(_valid(values, EPOCH_MS_TEXT), pa.int64()), TIMESTAMP)


def _time_text(form: str) -> Callable[[pa.ChunkedArray], pa.ChunkedArray]:
    def convert(values: pa.ChunkedArray) -> pa.ChunkedArray:
        stamps = pc.strptime(values, format=form, unit="ms", error_is_null=True)
        return pc.cast(stamps, TIMESTAMP)

    return convert


NUMBER = Kind("__num", _number)
EPOCH_MS = Kind("__ts", _epoch_ms)
CLOCK = Kind("__ts", _time_text("%Y-%m-%d %H:%M:%S"))
COMPACT = Kind("__ts", _time_text("%Y%m%d%H%M%S"))
DAY = Kind("__ts", _time_text("%Y-%m-%d"))
HOUR_MINUTE = Kind("__ts", _time_text("%Y-%m-%d %H:%M"))

# 4.1.2 and 4.1.3: `timestamp` is Long; the capacities are amounts in
# cores or TB, sampled as strings.
CAPACITY_AMOUNTS = (
    "total", "available", "allocated", "used", "free",
    "used_ratio", "allocated_ratio", "resource_count",
)  # fmt: skip
CAPACITY = {"timestamp": EPOCH_MS, **dict.fromkeys(CAPACITY_AMOUNTS, NUMBER)}
# 4.1.6 and 4.1.7: `alarm_id` is int32; the times are "UTC time" with no
# format given, sent as epoch milliseconds; tables and samples spell
# the occurrence fields two ways (CLARIFICATIONS.md, 16).
ALARMS = {
    "alarm_id": NUMBER,
    "count": NUMBER,
    **dict.fromkeys(
        (
            "latest_occur_utc",
            "first_occur_utc",
            "latest_occurred_utc",
            "first_occurred_utc",
            "clear_utc",
            "ack_utc",
        ),
        EPOCH_MS,
    ),
}
# 4.1.12 and 4.2.3 share the billing record: `yyyyMMddHHmmss` times.
BILLING = {
    "begin_time": COMPACT,
    "end_time": COMPACT,
    "time_stamp": COMPACT,
    "accumulate_factor_value": NUMBER,
}
ELB_COUNTS = (
    "lb_count", "lb_v5_count", "lb_capacity",
    "l4_listener_count", "l4_listener_capacity", "l4_member_count",
    "l4_member_capacity", "l7_listener_count", "l7_listener_capacity",
    "l7_member_count", "l7_member_capacity",
)  # fmt: skip

TYPED: Mapping[str, Mapping[str, Kind]] = {
    "physical_capacity": CAPACITY,
    "service_capacity": CAPACITY,
    "audit_logs": {"start_time": CLOCK, "end_time": CLOCK},
    "cloud_service_alarms": ALARMS,
    "hardware_alarms": ALARMS,
    "host_metrics": {"time_stamp": EPOCH_MS, "value": NUMBER},
    "server_performance": {"dates": DAY, "time": HOUR_MINUTE, "value": NUMBER},
    "elbv3": {"time_stamp": EPOCH_MS, **dict.fromkeys(ELB_COUNTS, NUMBER)},
    "external_resources": BILLING,
    "network_device_metrics": {"timestamp": EPOCH_MS, "value": NUMBER},
    "host_details": {"TIMESTAMP": EPOCH_MS},
    "vm_performance": {"TIMESTAMP": EPOCH_MS, "METRIC_VALUE": NUMBER},
    "host_vms": {"last_update_time": EPOCH_MS},
    "sdr.job_data": BILLING,
}
"""Per endpoint name, the fields that get a typed column and how."""


def page_table(records: Sequence[Record]) -> pa.Table:
    """One page of records as text columns, one per field, then `_record`."""
    rows = _DECODER.decode(b"[" + b",".join(records) + b"]")
    objects = [row if isinstance(row, dict) else {} for row in rows]
    names = dict.fromkeys(chain.from_iterable(objects))
    columns = {name: _text([row.get(name) for row in objects]) for name in names}
    columns[RECORD] = pa.array([bytes(record) for record in records], pa.string())
    return pa.table(columns)


def unit_table(pages: Sequence[pa.Table], unit: Unit) -> pa.Table:
    """A unit's pages as one table: bookkeeping, fields with typed twins, record.

    The bookkeeping columns come first: `_unit` (the unit key),
    `_partition`, `_window_begin` and `_window_end` (null for a unit
    without a window).
    """
    fields = pa.concat_tables(pages, promote_options="default")
    rows = fields.num_rows
    window = unit.window
    columns: dict[str, pa.Array | pa.ChunkedArray] = {
        "_unit": pa.repeat(pa.scalar(unit.key), rows),
        "_partition": pa.repeat(pa.scalar(unit.partition, pa.string()), rows),
        "_window_begin": _stamps(window.begin if window else None, rows),
        "_window_end": _stamps(window.end if window else None, rows),
    }
    typed = TYPED.get(unit.stream.endpoint.name, {})
    for name in fields.column_names:
        if name == RECORD:
            continue
        columns.setdefault(name, fields[name])
        kind = typed.get(name)
        if kind is not None:
            columns.setdefault(name + kind.suffix, kind.convert(fields[name]))
    columns[RECORD] = fields[RECORD]
    return pa.table(columns)


def _text(values: list[Any]) -> pa.Array:
    try:
        return pa.array(values, pa.string())
    except pa.ArrowTypeError:
        # Not every value is a string: write the others as their JSON.
        return pa.array([_as_text(value) for value in values], pa.string())


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return msgspec.json.encode(value).decode()


def _stamps(epoch_ms: int | None, rows: int) -> pa.Array:
    if epoch_ms is None:
        return pa.nulls(rows, TIMESTAMP)
    return pa.repeat(pa.scalar(epoch_ms, TIMESTAMP), rows)
