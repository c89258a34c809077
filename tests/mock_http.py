"""aioresponses, adapted to aiohttp 3.14.

aiohttp 3.14 added a required `stream_writer` argument to `ClientResponse`
that aioresponses 0.7.9 does not pass (pnuckowski/aioresponses#289, open).
aiohttp reads only its `output_size`, so a stand-in carrying 0 suffices
for the small bodies these tests mock. Drop this once aioresponses ships
the fix.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from aiohttp import ClientResponse
from aioresponses import aioresponses


class _Response(ClientResponse):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
        super().__init__(*args, **kwargs)


class mocked_http(aioresponses):
    """`aioresponses` whose responses build on aiohttp 3.14."""

    def add(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("response_class", _Response)
        super().add(*args, **kwargs)
