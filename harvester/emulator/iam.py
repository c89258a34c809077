"""IAM's token operation (3.2): password method, project scope.

Answers 201 with the token in `X-Subject-Token`; a wrong password is a 401
and a body of the wrong shape a 400, both in IAM's error shape. The
password itself never reaches a log or an error message.
"""

from __future__ import annotations

import hmac
import logging
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from harvester.emulator.errors import JSON, iam_error
from harvester.emulator.hashing import hex_id, salt
from harvester.emulator.tokens import TokenStore

logger = logging.getLogger(__name__)


class _Malformed(Exception):
    """Raised when the token request body lacks a documented member."""


def iso_utc(seconds: float) -> str:
    """`2026-12-05T16:00:00.123456Z`: ISO-8601 UTC with microseconds."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def issue_token(
    request: web.Request, tokens: TokenStore, password: str | None
) -> web.Response:
    """Handle `POST /v3/auth/tokens`."""
    try:
        body = orjson.loads(await request.read())
        user, project = _identity(body)
    except (orjson.JSONDecodeError, _Malformed) as error:
        message = str(error) if isinstance(error, _Malformed) else "body is not JSON"
        return iam_error(400, f"The request body is invalid: {message}")

    if not _password_ok(str(user["password"]), password):
        logger.info("token refused for user %r: wrong password", user.get("name"))
        return iam_error(401, "The username or password is wrong.")

    issued = tokens.issue()
    payload = {
        "token": {
            "expires_at": iso_utc(issued.expires_at),
            "issued_at": iso_utc(issued.issued_at),
            "methods": ["password"],
            "project": project,
            "user": {"name": user.get("name", ""), "domain": user.get("domain", {})},
        }
    }
    headers = {"X-Subject-Token": issued.value, "Content-Type": JSON}
    return web.Response(status=201, body=orjson.dumps(payload), headers=headers)


def _identity(body: Any) -> tuple[dict[str, Any], dict[str, str]]:
    auth = _member(body, "auth")
    identity = _member(auth, "identity")
    methods = identity.get("methods")
    if not isinstance(methods, list) or "password" not in methods:
        raise _Malformed("auth.identity.methods must list 'password'")

    user = _member(_member(identity, "password"), "user")
    if not _text(user.get("password")):
        raise _Malformed("auth.identity.password.user.password is required")
    if not _text(user.get("id")):
        domain = _member(user, "domain")
        if not (_text(user.get("name")) and _named(domain)):
            raise _Malformed("user needs an id, or a name and a domain name or id")

    project = _member(_member(auth, "scope"), "project")
    if not _named(project):
        raise _Malformed("auth.scope.project needs a name or an id")
    return user, _project(project)


def _member(parent: Any, name: str) -> dict[str, Any]:
    value = parent.get(name) if isinstance(parent, dict) else None
    if not isinstance(value, dict):
        raise _Malformed(f"missing object {name!r}")
    return value


def _text(value: Any) -> bool:
    return isinstance(value, str) and value != ""


def _named(entity: dict[str, Any]) -> bool:
    return _text(entity.get("name")) or _text(entity.get("id"))


def _project(scope: dict[str, Any]) -> dict[str, str]:
    # A project named but not numbered gets a stable id, and the reverse.
    name = scope.get("name") or scope["id"]
    project_id = scope.get("id") or hex_id(salt(f"project:{name}"))
    return {"name": name, "id": project_id}


def _password_ok(given: str, expected: str | None) -> bool:
    if expected is None:
        return given != ""
    return hmac.compare_digest(given.encode(), expected.encode())
