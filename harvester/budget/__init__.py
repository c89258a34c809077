"""A run's budget: each bucket's grants, kept in this process or in Redis.

The contract: in any sliding window of a bucket's period, requests
ARRIVING at the site, retries included, never exceed its limit.
A run alone keeps it with `limits.LocalGrants`. Runs and workers that
harvest one site at the same time keep it together through Redis:
`shared` holds each bucket's log of leases there, `leases` spends them.

    async with open_budget(config, secrets) as grants:
        buckets = Buckets(overrides, grants=grants)
"""

from __future__ import annotations

from harvester import logs
from harvester.budget.shared import SharedBudget, passwords
from harvester.config import RunConfig, Secrets, read_redis_url
from harvester.limits import Grants, GrantsFactory, local_grants

__all__ = ["LocalBudget", "SharedBudget", "open_budget"]


class LocalBudget:
    """Each bucket's grants kept in this process alone (`LocalGrants`).

    `async with budget as grants` yields the grants factory `Buckets`
    takes; `grants` is that factory.
    """

    def grants(self, path: str, limit: int, period: float) -> Grants:
        """The grants of one bucket."""
        return local_grants(path, limit, period)

    async def __aenter__(self) -> GrantsFactory:
        return self.grants

    async def __aexit__(self, *exc_info: object) -> None:
        return None


def open_budget(config: RunConfig, secrets: Secrets) -> LocalBudget | SharedBudget:
    """The budget `config` asks for, to enter before the first request.

    Nothing is connected until it is entered. The Redis URL is
    `secrets.redis_url`, else read from where the config says.

    Raises:
        ConfigError: a shared budget's Redis URL is not set or not valid.
    """
    if config.budget.kind == "local":
        return LocalBudget()
    url = secrets.redis_url or read_redis_url(config.budget)
    logs.mask(url, *passwords(url))
    return SharedBudget(url, config.site.base_url)
