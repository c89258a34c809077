"""The `[budget]` table and the Redis URL, a secret read like the others."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from harvester import config
from harvester.budget import LocalBudget, SharedBudget, open_budget
from harvester.errors import ConfigError
from harvester.limits import LocalGrants

URL = "redis://:budget-password-789@127.0.0.1:6379/0"
BAD = [
    ("[budget]\nkind = 'memcached'", "budget.kind"),
    ("[budget]\nkind = 1", "budget.kind"),
    ("[budget]\nredis_url = 'redis://127.0.0.1'", "budget.redis_url"),
    ("[budget]\nredis_url_env = 'NOT A NAME'", "budget.redis_url_env"),
    ("[budget]\nredis_url_env = ''", "budget.redis_url_env"),
    ("[budget]\nredis_url_file = 5", "budget.redis_url_file"),
    ("budget = 'redis'", "budget"),
]


@pytest.mark.parametrize(("text", "key"), BAD)
def test_bad_budget_settings_name_the_key(text: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config.from_mapping(tomllib.loads(text))
    assert caught.value.key == key
    assert "\n" not in str(caught.value)


def test_the_budget_is_local_unless_asked_otherwise() -> None:
    settings = config.from_mapping({})
    assert settings.budget == config.BudgetConfig()
    budget = open_budget(settings, config.Secrets("pw", "code"))
    assert isinstance(budget, LocalBudget)
    assert isinstance(budget.grants("/bucket", 60, 60.0), LocalGrants)


def test_the_redis_url_comes_from_the_environment_and_stays_hidden(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ESM_PASSWORD", "pw-very-secret")
    monkeypatch.setenv("ESM_APP_CODE", "code-very-secret")
    monkeypatch.setenv("SHARED_BUDGET_URL", URL)
    settings = config.from_mapping(
        {"budget": {"kind": "redis", "redis_url_env": "SHARED_BUDGET_URL"}}
    )
    secrets = config.read_secrets(settings.site, settings.budget)
    assert secrets.redis_url == URL
    assert "budget-password" not in repr(secrets)
    budget = open_budget(settings, secrets)
    assert isinstance(budget, SharedBudget)
    assert budget.where == "127.0.0.1:6379"


def test_the_redis_url_comes_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "redis-url"
    path.write_text(URL + "\n")
    path.chmod(0o600)
    settings = config.from_mapping(
        {"budget": {"kind": "redis", "redis_url_file": str(path)}}
    )
    assert config.read_redis_url(settings.budget) == URL


def test_a_missing_redis_url_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ESM_REDIS_URL", raising=False)
    settings = config.from_mapping({"budget": {"kind": "redis"}})
    with pytest.raises(ConfigError, match="ESM_REDIS_URL") as caught:
        open_budget(settings, config.Secrets("pw", "code"))
    assert caught.value.key == "budget.redis_url"


def test_a_url_that_is_not_redis_is_refused_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ESM_REDIS_URL", "http://:budget-password-789@127.0.0.1/")
    settings = config.from_mapping({"budget": {"kind": "redis"}})
    with pytest.raises(ConfigError) as caught:
        config.read_redis_url(settings.budget)
    assert caught.value.key == "budget.redis_url"
    assert "budget-password" not in str(caught.value)
