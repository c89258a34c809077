"""The three error body shapes an ESM site answers with.

The API gateway (APIG) uses `{"error_code", "error_msg", "request_id"}`,
the services behind it `{"error_code", "error_msg"}`, and IAM
`{"error": {"code", "message", "title"}}`.
"""

from __future__ import annotations

import os

import orjson
from aiohttp import web

JSON = "application/json;charset=UTF-8"

_IAM_TITLES = {400: "Bad Request", 401: "Unauthorized", 429: "Too Many Requests"}


class ServiceError(Exception):
    """Raised when a request reaches a service and the service refuses it."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def bad_request(message: str) -> ServiceError:
    """A 400 naming what is wrong with the request."""
    return ServiceError(400, "ESM.0400", message)


def not_found(message: str) -> ServiceError:
    """A 404 for a missing resource behind a known path (an SDR job)."""
    return ServiceError(404, "ESM.0404", message)


def json_response(status: int, body: bytes) -> web.Response:
    """A JSON response from ready bytes."""
    return web.Response(status=status, body=body, headers={"Content-Type": JSON})


def request_id() -> str:
    """A fresh gateway request id."""
    return os.urandom(16).hex()


def gateway_error(status: int, code: str, message: str) -> web.Response:
    """An error answered by the API gateway itself."""
    body = {"error_code": code, "error_msg": message, "request_id": request_id()}
    return json_response(status, orjson.dumps(body))


def service_error(error: ServiceError) -> web.Response:
    """An error answered by the service behind the gateway."""
    body = {"error_code": error.code, "error_msg": error.message}
    return json_response(error.status, orjson.dumps(body))


def iam_error(status: int, message: str) -> web.Response:
    """An error answered by IAM."""
    title = _IAM_TITLES.get(status, "Error")
    body = {"error": {"code": status, "message": message, "title": title}}
    return json_response(status, orjson.dumps(body))
