"""Parameter checks driven by the catalog's `Param` entries.

Parameters arrive as strings (query and path) or JSON values (bodies);
integers may come either way. A failed check is a 400 with a service
error body that names the parameter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from harvester.catalog import Endpoint, Param
from harvester.emulator.errors import ServiceError, bad_request

# 4.1.8, 4.1.9 and 4.1.12 make page_size optional; 4.1.13-4.1.16 document
# "Default value: 500" for it, the one default the reference gives.
DEFAULT_PAGE_SIZE = 500

_INTEGER = re.compile(r"[+-]?\d{1,19}")

Values = dict[str, int | str]


def parse_query(endpoint: Endpoint, query: Mapping[str, str]) -> Values:
    """Check and convert an endpoint's query parameters.

    Raises:
        ServiceError: a required parameter is missing or a value is invalid.
    """
    return _parse(endpoint, endpoint.query, query)


def parse_path(endpoint: Endpoint, path_params: Mapping[str, str]) -> Values:
    """Check an endpoint's path parameters.

    Raises:
        ServiceError: a value breaks its documented pattern or choices.
    """
    return _parse(endpoint, endpoint.path_params, path_params, empty_is_value=True)


def parse_body(endpoint: Endpoint, body: Mapping[str, Any]) -> Values:
    """Check an endpoint's JSON body fields.

    Raises:
        ServiceError: a field has the wrong type or breaks its range.
    """
    strings: dict[str, str] = {}
    for param in endpoint.body:
        value = body.get(param.name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise bad_request(f"{param.name} must be a {param.kind}, got {value!r}")
        strings[param.name] = str(value)
    return _parse(endpoint, endpoint.body, strings, empty_is_value=True)


def _parse(
    endpoint: Endpoint,
    params: Iterable[Param],
    given: Mapping[str, str],
    *,
    empty_is_value: bool = False,
) -> Values:
    values: Values = {}
    for param in params:
        raw = given.get(param.name)
        # An empty query value reads as absent: clients often send `x=`.
        if raw is None or (raw == "" and not empty_is_value):
            if param.required:
                raise bad_request(f"missing required parameter {param.name}")
            continue
        values[param.name] = _convert(endpoint, param, raw)
    return values


def _convert(endpoint: Endpoint, param: Param, raw: str) -> int | str:
    if param.kind == "int":
        return _integer(endpoint, param, raw)
    if param.choices and raw not in param.choices:
        raise bad_request(
            f"{param.name} must be one of {', '.join(param.choices)}; got {raw!r}"
        )
    if param.pattern is not None and re.fullmatch(param.pattern, raw) is None:
        raise bad_request(f"{param.name} does not match {param.pattern}: {raw!r}")
    return raw


def _integer(endpoint: Endpoint, param: Param, raw: str) -> int:
    if _INTEGER.fullmatch(raw) is None:
        raise bad_request(f"{param.name} must be an integer, got {raw!r}")
    value = int(raw)
    maximum = param.maximum
    # 4.1.13-4.1.16 document no page_size maximum; the catalog's cap holds.
    if maximum is None and param.name == "page_size":
        maximum = endpoint.page_size_max
    if param.minimum is not None and value < param.minimum:
        raise _out_of_range(param, value, param.minimum, maximum)
    if maximum is not None and value > maximum:
        raise _out_of_range(param, value, param.minimum, maximum)
    return value


def _out_of_range(
    param: Param, value: int, minimum: int | None, maximum: int | None
) -> ServiceError:
    low = "" if minimum is None else str(minimum)
    high = "" if maximum is None else str(maximum)
    return bad_request(f"{param.name} must be in {low}~{high}, got {value}")
