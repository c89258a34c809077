"""Request routing driven by the catalog's path templates.

aiohttp's router cannot match an empty path segment, and the reference
allows one: `share_id` (4.1.1) and the SDR ids (4.2) may be empty strings.
So every template, aliases included, becomes an anchored pattern whose
parameters match any run of characters without a slash, empty included.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from harvester.catalog import SDR_JOB_DATA, Endpoint

# 4.2.3: the heading says POST, the sample says GET; a site may take both.
EXTRA_METHODS: Mapping[str, frozenset[str]] = MappingProxyType(
    {SDR_JOB_DATA.name: frozenset({"GET"})}
)

_PARAM = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True, slots=True)
class Match:
    """A request resolved to its endpoint, with the path parameters it gave."""

    endpoint: Endpoint
    path_params: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class _Route:
    endpoint: Endpoint
    methods: frozenset[str]


class RouteTable:
    """Every endpoint's templates; answers which endpoint a request is for."""

    def __init__(self, endpoints: Iterable[Endpoint]) -> None:
        self._static: dict[str, _Route] = {}
        self._patterns: list[tuple[re.Pattern[str], _Route]] = []
        for endpoint in endpoints:
            methods = {endpoint.method} | EXTRA_METHODS.get(endpoint.name, set())
            for template in (endpoint.path, *endpoint.aliases):
                self._add(endpoint, frozenset(methods), template)

    def _add(self, endpoint: Endpoint, methods: frozenset[str], template: str) -> None:
        if "{" not in template:
            self._static[template] = _Route(endpoint, methods)
            return

        parts = _PARAM.split(template)
        # split() alternates literal text and parameter names.
        regex = "".join(
            re.escape(part) if index % 2 == 0 else f"(?P<{part}>[^/]*)"
            for index, part in enumerate(parts)
        )
        pattern = re.compile(regex + r"\Z")
        self._patterns.append((pattern, _Route(endpoint, methods)))

    def match(self, method: str, path: str) -> Match | None:
        """The endpoint for `method` and `path`, or None (unknown path or method)."""
        route = self._static.get(path)
        if route is not None:
            return Match(route.endpoint) if method in route.methods else None

        for pattern, route in self._patterns:
            found = pattern.match(path)
            if found is not None:
                if method not in route.methods:
                    return None
                return Match(route.endpoint, MappingProxyType(found.groupdict()))
        return None
