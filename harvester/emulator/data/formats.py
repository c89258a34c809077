"""Text formats the samples use for times, numbers and packed arrays."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass

import orjson

from harvester.emulator.hashing import mix, unit

DAY_MS = 86_400_000
HOUR_MS = 3_600_000


def ms(stamp: int) -> str:
    """Epoch milliseconds as the samples send them: a decimal string."""
    return str(stamp)


def clock_time(stamp: int) -> str:
    """`2020-11-01 01:13:59` (4.1.4), in UTC."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(stamp // 1000))


def compact_time(stamp: int) -> str:
    """`20240409231657` (4.1.12), in UTC."""
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(stamp // 1000))


def day(stamp: int) -> str:
    """`2024-01-08` (4.1.9), in UTC."""
    return time.strftime("%Y-%m-%d", time.gmtime(stamp // 1000))


def hour_minute(stamp: int) -> str:
    """`2024-01-08 0:00` (4.1.9): an unpadded hour, in UTC."""
    parts = time.gmtime(stamp // 1000)
    return f"{day(stamp)} {parts.tm_hour}:{parts.tm_min:02d}"


def packed(value: object) -> str:
    """A JSON array packed into a string, as 4.1.14 and 4.1.16 send them."""
    return orjson.dumps(value).decode()


@dataclass(frozen=True, slots=True)
class Signal:
    """A metric's course: a daily cycle plus hashed noise, per series item."""

    key: int
    base: float
    swing: float
    noise: float

    def at(self, stamp: int) -> float:
        """The value at `stamp`, never below zero."""
        phase = (self.key & 0xFFFF) / 0x10000 * math.tau
        cycle = math.sin(math.tau * (stamp % DAY_MS) / DAY_MS + phase)
        jitter = (unit(mix(self.key, stamp)) - 0.5) * 2 * self.noise
        return max(self.base + self.swing * cycle + jitter, 0.0)


class Template:
    """A JSON object whose fields are fixed but for a few string slots.

    High-volume streams render by joining pre-encoded fragments, a few
    times faster than building and dumping a dict per record.
    """

    __slots__ = ("_parts",)

    def __init__(self, fields: Mapping[str, str | None]) -> None:
        parts: list[bytes] = []
        current = b"{"
        for position, (name, value) in enumerate(fields.items()):
            current += (b"," if position else b"") + orjson.dumps(name) + b":"
            if value is None:
                parts.append(current)
                current = b""
            else:
                current += orjson.dumps(value)
        parts.append(current + b"}")
        self._parts = tuple(parts)

    def render(self, *values: str) -> bytes:
        """The record with `values` in its slots, in field order."""
        parts = self._parts
        out = [parts[0]]
        for value, part in zip(values, parts[1:], strict=True):
            out.append(orjson.dumps(value))
            out.append(part)
        return b"".join(out)


def decimal(value: float, places: int = 2) -> str:
    """A number as a fixed-point string."""
    return f"{value:.{places}f}"
