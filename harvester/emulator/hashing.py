"""Fast, stateless integer hashing: the only source of randomness in the data.

Every generated value is a function of (seed, stream, partition, timestamp,
item) through `mix`, so any record can be rebuilt alone, in any order, and
the same seed always yields the same bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import lru_cache
from typing import TypeVar

T = TypeVar("T")

MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_SCALE = float(1 << 64)


def _finalize(value: int) -> int:
    # The splitmix64 finalizer: every input bit reaches every output bit.
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & MASK64
    return value ^ (value >> 31)


def mix(*values: int) -> int:
    """A 64-bit hash of a sequence of integers."""
    state = 0
    for value in values:
        state = _finalize((state + _GOLDEN + (value & MASK64)) & MASK64)
    return state


@lru_cache(maxsize=4096)
def salt(text: str) -> int:
    """A stable 64-bit number for a name (Python's `hash` is randomized)."""
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def unit(value: int) -> float:
    """A hash mapped onto [0, 1)."""
    return value / _SCALE


def pick(value: int, choices: Sequence[T]) -> T:
    """One of `choices`, chosen by a hash."""
    return choices[value % len(choices)]


def uuid_like(value: int) -> str:
    """A UUID-shaped lower-case hex string derived from a hash."""
    text = f"{mix(value, 1):016x}{mix(value, 2):016x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def hex_id(value: int, length: int = 32) -> str:
    """A lower-case hex identifier of `length` digits derived from a hash."""
    digits = "".join(f"{mix(value, n):016x}" for n in range(length // 16 + 1))
    return digits[:length]
