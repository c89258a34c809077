"""Every error the harvester raises, under one root.

    HarvestError
    ├── ConfigError          bad local input, found before any request
    ├── SiteError            the site as a whole cannot be used: stops the run
    │   ├── AuthError        IAM or gateway refused the credentials
    │   ├── UnreachableError IAM could not be reached at all
    │   └── BudgetError      the shared budget (Redis) cannot be used
    ├── RequestError         one request failed for good
    │   ├── ThrottledError   429 after the retry budget
    │   └── TransientError   5xx, timeout or dropped connection, retries spent
    ├── ResponseError        a 2xx whose body cannot be used
    ├── UnitError            a unit could not be completed
    │   └── InconsistentError  the site's data changed while it was paged
    └── VerifyError          a harvest does not match the site's ground truth

aiohttp and JSON errors are translated to these in `fetch` and `pages`,
Redis errors in `budget`, chained with `from`. Messages never carry secrets.
"""

from __future__ import annotations

from typing import Any


class HarvestError(Exception):
    """Root of every error raised by the harvester."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Errors cross process boundaries (a cluster worker's to its
        # driver). Subclasses take other arguments than their message, so
        # rebuild from the message and attributes, not from `args`.
        return (_rebuild, (type(self), str(self), self.__dict__))


def _rebuild(
    kind: type[HarvestError], message: str, attributes: dict[str, Any]
) -> HarvestError:
    error = kind.__new__(kind)
    Exception.__init__(error, message)
    error.__dict__.update(attributes)
    return error


class ConfigError(HarvestError):
    """Raised when the config, the command line or the environment is wrong."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"{key}: {problem}")


class SiteError(HarvestError):
    """Raised when the site as a whole cannot be used, so the run stops."""


class AuthError(SiteError):
    """Raised when IAM or the gateway rejects the credentials or grants."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status = status
        self.code = code
        shown = f"{status} {code}" if code and code != str(status) else str(status)
        super().__init__(f"authentication failed ({shown}): {message}")


class UnreachableError(SiteError):
    """Raised when no IAM token can be had: the site does not answer."""

    def __init__(self, url: str, cause: str) -> None:
        self.url = url
        super().__init__(f"cannot reach IAM at {url}: {cause}")


class BudgetError(SiteError):
    """Raised when the budget shared in Redis cannot be used: nothing is sent."""

    def __init__(self, where: str, problem: str) -> None:
        self.where = where
        self.problem = problem
        super().__init__(
            f"shared budget at {where} failed ({problem}); "
            "no request is sent without it"
        )


class RequestError(HarvestError):
    """Raised when a request fails in a way retrying will not mend."""

    def __init__(
        self, endpoint: str, status: int | None, code: str, message: str
    ) -> None:
        self.endpoint = endpoint
        self.status = status
        self.code = code
        shown = status if status is not None else "no response"
        super().__init__(f"{endpoint}: {shown} {code}: {message}".rstrip(": "))


class ThrottledError(RequestError):
    """Raised when a bucket keeps answering 429 after every retry."""


class TransientError(RequestError):
    """Raised when 5xx answers, timeouts or dropped connections outlast retries."""


class ResponseError(HarvestError):
    """Raised when a successful response has a body the harvester cannot use."""

    def __init__(self, endpoint: str, problem: str) -> None:
        self.endpoint = endpoint
        super().__init__(f"{endpoint}: {problem}")


class UnitError(HarvestError):
    """Raised when a unit cannot be completed, naming the unit."""

    def __init__(self, unit: str, problem: str) -> None:
        self.unit = unit
        self.problem = problem
        super().__init__(f"{unit}: {problem}")


class InconsistentError(UnitError):
    """Raised when a unit's `total` or page sizes change while it is paged."""


class VerifyError(HarvestError):
    """Raised when a harvest cannot be checked against ground truth."""
