from __future__ import annotations

import tomllib

import pytest

from harvester import config
from harvester.errors import ConfigError

BAD = [
    ("[site]\nnope = 1", "site.nope"),
    ("[run]\nsince = 5.5", "run.since"),
    ("[run]\nsince = 'yesterday'", "run.since"),
    ("[run]\nsince = '-1d'\nuntil = '-2d'", "run.until"),
    ("[run]\nstreams = ['no_such_stream']", "run.streams"),
    ("[run]\nstreams = 'host_*x'", "run.streams"),
    ("[run]\nwindow = '1 day'", "run.window"),
    ("[run]\nwindow = '0h'", "run.window"),
    ("[run]\nattempts = 0", "run.attempts"),
    ("[run]\nattempts = true", "run.attempts"),
    ("[sink]\nkind = 'csv'", "sink.kind"),
    ("[sink]\ngzip = 'yes'", "sink.gzip"),
    ("[site]\nbase_url = 'ftp://x'", "site.base_url"),
    ("[site]\ndomain_id = 'has space'", "site.domain_id"),
    ("[site]\ndomain_id = '" + "a" * 37 + "'", "site.domain_id"),
    ("[site]\noffset_unit = 'bytes'", "site.offset_unit"),
    ("[site]\nwindow_end = 'open'", "site.window_end"),
    ("[site]\nhcso_online = 1", "site.hcso_online"),
    ("[streams.host_metrics]\npage_size = 5000", "streams.host_metrics.page_size"),
    ("[streams.audit_logs]\npage_size = 101", "streams.audit_logs.page_size"),
    ("[streams.nope]\npage_size = 10", "streams.nope"),
    ("[streams.host_metrics]\ncolour = 'red'", "streams.host_metrics.colour"),
    ("[buckets.'/nope']\nlimit = 1\nperiod = 1", "buckets.'/nope'"),
    ("[emulator]\nscale = 'huge'", "emulator.scale"),
    ("surprise = 1", "surprise"),
    ("[run]\nstreams = []", "run.streams"),
    ("[run]\nsince = 1796256000", "run.since"),
    ("[site]\nca_bundle = '/no/such/ca.pem'", "site.ca_bundle"),
    ("[site]\niam_url = 'iam.example.com'", "site.iam_url"),
    ("[emulator]\nfaults = 'bogus'", "emulator.faults"),
    ("site = 3", "site"),
]


@pytest.mark.parametrize(("text", "key"), BAD)
def test_bad_config_names_the_key(text: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config.from_mapping(tomllib.loads(text))
    assert caught.value.key == key
    assert "\n" not in str(caught.value)


def test_demo_config_loads() -> None:
    settings = config.load("configs/demo.toml")
    assert settings.site.embedded
    assert len(settings.selected_streams()) == 43


def test_selecting_a_child_stream_pulls_in_its_parent() -> None:
    settings = config.from_mapping({"run": {"streams": ["host_metrics"]}})
    names = [s.name for s in settings.selected_streams()]
    assert names == ["host_details", "host_metrics"]


def test_missing_config_file() -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        config.load("configs/absent.toml")


def test_secrets_come_from_the_environment_and_stay_hidden(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ESM_PASSWORD", "pw-very-secret")
    monkeypatch.setenv("ESM_APP_CODE", "code-very-secret")
    secrets = config.read_secrets(config.SiteConfig())
    assert secrets.password == "pw-very-secret"
    assert "secret" not in repr(secrets)


def test_missing_secret_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ESM_PASSWORD", raising=False)
    with pytest.raises(ConfigError, match="ESM_PASSWORD"):
        config.read_secrets(config.SiteConfig())


def test_instants_and_durations() -> None:
    now = 1_700_000_000_000
    assert config.parse_instant_ms("k", "now", now) == now
    assert config.parse_instant_ms("k", "-6h", now) == now - 6 * 3600_000
    assert config.parse_instant_ms("k", "2023-11-14T22:13:20Z", now) == now
    assert config.parse_instant_ms("k", now, 0) == now
    assert config.parse_instant_ms("k", str(now), 0) == now


def test_epoch_seconds_given_by_mistake_are_refused() -> None:
    with pytest.raises(ConfigError, match="epoch seconds"):
        config.parse_instant_ms("run.since", 1_796_256_000, 0)
    assert config.parse_duration_ms("k", "90s") == 90_000


def test_trailing_slashes_are_dropped_from_site_urls() -> None:
    settings = config.from_mapping(
        {
            "site": {
                "base_url": "https://esm.example.com/",
                "iam_url": "https://i.example.com/",
            }
        }
    )
    assert settings.site.base_url == "https://esm.example.com"
    assert settings.site.iam_url == "https://i.example.com"
