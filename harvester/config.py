"""The run configuration: a TOML file read into typed, frozen values.

Secrets never live in the file: it names the environment variables (or
files) that hold them, and `Secrets` keeps them out of every repr.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import re
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harvester import catalog
from harvester.errors import ConfigError

log = logging.getLogger(__name__)

DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)$")
UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
SINK_KINDS = ("ndjson", "stdout", "parquet", "postgres")
BUDGET_KINDS = ("local", "redis")
EXECUTOR_KINDS = ("local", "ray")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True)
class Secrets:
    """The site's password and app code, and a shared budget's Redis URL.

    None is ever shown in a repr: the URL may hold a password too.
    """

    password: str = field(repr=False)
    app_code: str = field(repr=False)
    redis_url: str = field(default="", repr=False)

    def __repr__(self) -> str:
        return "Secrets(<hidden>)"


@dataclass(frozen=True, slots=True)
class SiteConfig:
    """Where the site is and who the harvester is to it.

    An empty `base_url` means the built-in emulator.
    """

    base_url: str = ""
    iam_url: str = ""
    username: str = "demo"
    domain_name: str = "demo"
    project_name: str = "demo-project"
    project_id: str = ""
    domain_id: str = "demo-domain"
    hcso_online: bool = False
    password_env: str = "ESM_PASSWORD"
    app_code_env: str = "ESM_APP_CODE"
    password_file: str = ""
    app_code_file: str = ""
    ca_bundle: str = ""
    allow_plain_http: bool = False
    offset_unit: str = "records"
    window_end: str = "exclusive"

    @property
    def embedded(self) -> bool:
        return not self.base_url


@dataclass(frozen=True, slots=True)
class StreamConfig:
    """Per-stream settings that override the catalog's defaults."""

    page_size: int | None = None
    window_ms: int | None = None


@dataclass(frozen=True, slots=True)
class BucketConfig:
    """A bucket's budget when it differs from the documented one."""

    limit: int
    period: float


@dataclass(frozen=True, slots=True)
class EmulatorConfig:
    """How to start the built-in emulator when no site is configured."""

    seed: int = 7
    scale: str = "demo"
    faults: str = "none"


@dataclass(frozen=True, slots=True)
class SinkConfig:
    """Where the PostgreSQL sink connects; its password stays out of the file.

    `dsn` (which may not hold a password) or `host`, `port`, `database`
    and `user` name the server; `password_env` names the environment
    variable that holds the password, when the server asks for one.
    """

    dsn: str = ""
    host: str = ""
    port: int = 5432
    database: str = ""
    user: str = ""
    password_env: str = ""
    schema: str = "public"


@dataclass(frozen=True, slots=True)
class BudgetConfig:
    """Where the buckets' budgets are kept: in this process, or in Redis.

    With `kind = "redis"`, every run against the same site shares each
    bucket's budget. The Redis URL may hold a password, so the file only
    names the environment variable (`redis_url_env`) or the file
    (`redis_url_file`) that holds it.
    """

    kind: str = "local"
    redis_url_env: str = "ESM_REDIS_URL"
    redis_url_file: str = ""


@dataclass(frozen=True, slots=True)
class ExecutorConfig:
    """Where units run: this process, or Ray workers.

    `address` names a Ray cluster to join; empty starts one on loopback
    for the run.
    """

    kind: str = "local"
    address: str = ""
    workers: int = 2


@dataclass(frozen=True, slots=True)
class RunConfig:
    """Everything one run needs besides secrets."""

    site: SiteConfig
    since: str = "-1d"
    until: str = "now"
    auto_start: str = "-1d"
    settle_ms: int = 120_000
    discovery_ms: int = 86_400_000
    streams: tuple[str, ...] = ("*",)
    window_ms: int = 86_400_000
    out: str = "out"
    sink: str = "ndjson"
    gzip: bool = False
    attempts: int = 6
    unit_attempts: int = 4
    timeout_s: float = 60.0
    sdr_job_timeout_s: float = 1800.0
    stream_settings: Mapping[str, StreamConfig] = field(default_factory=dict)
    buckets: Mapping[str, BucketConfig] = field(default_factory=dict)
    emulator: EmulatorConfig = field(default_factory=EmulatorConfig)
    sink_settings: SinkConfig = field(default_factory=SinkConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)

    def selected_streams(self) -> tuple[catalog.Stream, ...]:
        """The catalog streams this run harvests, parents pulled in."""
        names = {
            stream.name
            for stream in catalog.STREAMS
            if any(fnmatch.fnmatchcase(stream.name, p) for p in self.streams)
        }
        for name in list(names):
            parent = catalog.stream(name).parent
            if parent:
                names.add(parent)
        return tuple(s for s in catalog.STREAMS if s.name in names)


def parse_duration_ms(key: str, text: Any) -> int:
    """Milliseconds in a duration like `90s`, `15m`, `6h` or `1d`.

    Raises:
        ConfigError: `text` is not such a duration.
    """
    match = DURATION.match(text) if isinstance(text, str) else None
    if not match:
        raise ConfigError(key, f"expected a duration like '6h' or '1d', got {text!r}")
    milliseconds = int(float(match[1]) * UNIT_SECONDS[match[2]] * 1000)
    if milliseconds <= 0:
        raise ConfigError(key, f"must be longer than zero, got {text!r}")
    return milliseconds


def parse_instant_ms(key: str, text: Any, now_ms: int) -> int:
    """Epoch milliseconds of `now`, `-<duration>`, ISO-8601 or an integer.

    Raises:
        ConfigError: `text` is none of these.
    """
    if isinstance(text, str) and text.isdigit():
        text = int(text)
    if isinstance(text, int) and not isinstance(text, bool):
        # Before 1973 in milliseconds is more likely seconds given by mistake.
        if 0 <= text < 10**11:
            raise ConfigError(
                key, f"{text} looks like epoch seconds; give epoch milliseconds"
            )
        return text
    if not isinstance(text, str):
        raise ConfigError(key, f"expected a time, got {text!r}")
    if text == "now":
        return now_ms
    if text.startswith("-"):
        return now_ms - parse_duration_ms(key, text[1:])
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            key, f"expected ISO-8601, 'now' or '-1d', got {text!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def load(path: str | Path) -> RunConfig:
    """Read and check a TOML config file.

    Raises:
        ConfigError: the file is missing, not TOML, or has a bad value.
    """
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(str(path), "no such config file") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(str(path), f"not valid TOML: {error}") from None
    return from_mapping(data)


def from_mapping(data: Mapping[str, Any]) -> RunConfig:
    """A checked `RunConfig` from parsed TOML.

    Raises:
        ConfigError: a key is unknown or a value has the wrong type or range.
    """
    tables = {"site", "run", "sink", "streams", "buckets", "emulator"}
    _reject_unknown("", data, tables | {"budget", "executor"})
    site = _site(_table(data, "site"))
    run = _table(data, "run")
    sink = _table(data, "sink")
    _reject_unknown(
        "run",
        run,
        {
            "since",
            "until",
            "auto_start",
            "settle",
            "discovery",
            "streams",
            "window",
            "out",
            "attempts",
            "unit_attempts",
            "timeout",
            "sdr_job_timeout",
        },
    )
    _reject_unknown("sink", sink, {"kind", "gzip", *SinkConfig.__dataclass_fields__})
    config = RunConfig(
        site=site,
        since=_typed(run, "run.since", "since", (str, int), "-1d"),
        until=_typed(run, "run.until", "until", (str, int), "now"),
        auto_start=_typed(run, "run.auto_start", "auto_start", (str, int), "-1d"),
        settle_ms=parse_duration_ms("run.settle", run.get("settle", "2m")),
        discovery_ms=parse_duration_ms("run.discovery", run.get("discovery", "1d")),
        streams=_stream_patterns(run.get("streams", ["*"])),
        window_ms=parse_duration_ms("run.window", run.get("window", "1d")),
        out=_typed(run, "run.out", "out", str, "out"),
        attempts=_positive(run, "run.attempts", "attempts", 6),
        unit_attempts=_positive(run, "run.unit_attempts", "unit_attempts", 4),
        timeout_s=parse_duration_ms("run.timeout", run.get("timeout", "60s")) / 1000,
        sdr_job_timeout_s=parse_duration_ms(
            "run.sdr_job_timeout", run.get("sdr_job_timeout", "30m")
        )
        / 1000,
        sink=_sink_kinds(sink),
        gzip=_typed(sink, "sink.gzip", "gzip", bool, False),
        sink_settings=_sink_settings(sink),
        stream_settings=_stream_settings(_table(data, "streams")),
        buckets=_buckets(_table(data, "buckets")),
        emulator=_emulator(_table(data, "emulator")),
        budget=_budget(_table(data, "budget")),
        executor=_executor(_table(data, "executor")),
    )
    _check_span(config)
    return config


def _check_span(config: RunConfig) -> None:
    now = int(time.time() * 1000)
    until = parse_instant_ms("run.until", config.until, now)
    if config.since == "auto":
        since = parse_instant_ms("run.auto_start", config.auto_start, now)
    else:
        since = parse_instant_ms("run.since", config.since, now)
    if until <= since:
        key = "run.auto_start" if config.since == "auto" else "run.since"
        raise ConfigError("run.until", f"must be later than {key}")


def with_overrides(
    config: RunConfig,
    *,
    since: str | None = None,
    until: str | None = None,
    streams: list[str] | None = None,
    out: str | None = None,
    executor: str | None = None,
    workers: int | None = None,
    ray_address: str | None = None,
) -> RunConfig:
    """`config` with command-line values in place of the file's, checked alike.

    Raises:
        ConfigError: an override is malformed.
    """
    given = config.executor
    table = {
        "kind": executor or given.kind,
        "address": given.address if ray_address is None else ray_address,
        "workers": given.workers if workers is None else workers,
    }
    changed = replace(
        config,
        since=since or config.since,
        until=until or config.until,
        streams=_stream_patterns(streams) if streams else config.streams,
        out=out or config.out,
        executor=_executor(table),
    )
    _check_span(changed)
    return changed


def read_secrets(site: SiteConfig, budget: BudgetConfig | None = None) -> Secrets:
    """The password, the app code and a shared budget's Redis URL.

    Each comes from a file or the environment, as the config says.

    Raises:
        ConfigError: a secret is missing or its file is unreadable.
    """
    return Secrets(
        password=_secret("site.password", site.password_file, site.password_env),
        app_code=_secret("site.app_code", site.app_code_file, site.app_code_env),
        redis_url=read_redis_url(budget) if budget else "",
    )


def read_redis_url(budget: BudgetConfig) -> str:
    """The Redis URL of a shared budget; empty for a local one.

    Raises:
        ConfigError: the URL is missing, unreadable or not a Redis URL.
    """
    if budget.kind != "redis":
        return ""
    url = _secret("budget.redis_url", budget.redis_url_file, budget.redis_url_env)
    # The URL is never echoed: it may hold a password.
    if urlsplit(url).scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(
            "budget.redis_url",
            "expected a redis://, rediss:// or unix:// URL",
        )
    return url


def _secret(key: str, path: str, env: str) -> str:
    if path:
        try:
            if Path(path).stat().st_mode & 0o077:
                log.warning(
                    "%s_file %r is readable by others; make it mode 0600", key, path
                )
            return Path(path).read_text().strip()
        except OSError as error:
            raise ConfigError(
                f"{key}_file", f"cannot read {path!r}: {error.strerror}"
            ) from None
    value = os.environ.get(env, "")
    if not value:
        raise ConfigError(key, f"set the environment variable {env}")
    return value


def _site(table: Mapping[str, Any]) -> SiteConfig:
    known = {f for f in SiteConfig.__dataclass_fields__}
    _reject_unknown("site", table, known)
    defaults = SiteConfig()
    values = {
        name: _typed(
            table,
            f"site.{name}",
            name,
            type(getattr(defaults, name)),
            getattr(defaults, name),
        )
        for name in known
    }
    # Paths are appended to these, so a trailing slash would double.
    values["base_url"] = values["base_url"].rstrip("/")
    values["iam_url"] = values["iam_url"].rstrip("/")
    site = SiteConfig(**values)
    _check_site(site)
    return site


def _check_site(site: SiteConfig) -> None:
    for key, url in (("site.base_url", site.base_url), ("site.iam_url", site.iam_url)):
        if url and not re.match(r"^https?://[^/\s]+", url):
            raise ConfigError(key, f"expected an http(s) URL, got {url!r}")
    if site.ca_bundle and not Path(site.ca_bundle).is_file():
        raise ConfigError("site.ca_bundle", f"no such file: {site.ca_bundle!r}")
    if not re.fullmatch(r"[-_0-9a-zA-Z]{0,36}", site.domain_id):
        raise ConfigError(
            "site.domain_id",
            f"expected up to 36 letters, digits, '-' or '_', got {site.domain_id!r}",
        )
    if site.offset_unit not in ("records", "pages"):
        raise ConfigError("site.offset_unit", "expected 'records' or 'pages'")
    if site.window_end not in ("exclusive", "inclusive"):
        raise ConfigError("site.window_end", "expected 'exclusive' or 'inclusive'")


def _stream_patterns(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError("run.streams", f"expected a list of names, got {value!r}")
    if not value:
        raise ConfigError("run.streams", "names no stream; use ['*'] for all")
    names = [s.name for s in catalog.STREAMS]
    for pattern in value:
        if not fnmatch.filter(names, pattern):
            raise ConfigError(
                "run.streams",
                f"no stream matches {pattern!r}; see 'harvester endpoints'",
            )
    return tuple(value)


def _stream_settings(table: Mapping[str, Any]) -> dict[str, StreamConfig]:
    settings = {}
    for name, entry in table.items():
        key = f"streams.{name}"
        if name not in catalog.STREAMS_BY_NAME:
            raise ConfigError(key, "no such stream; see 'harvester endpoints'")
        if not isinstance(entry, dict):
            raise ConfigError(key, "expected a table")
        _reject_unknown(key, entry, {"page_size", "window"})
        page_size = entry.get("page_size")
        cap = catalog.stream(name).page_size
        if page_size is not None:
            page_size = _positive(entry, f"{key}.page_size", "page_size", 1)
            if cap is not None and page_size > cap:
                raise ConfigError(
                    f"{key}.page_size",
                    f"{page_size} is past the documented maximum of {cap}",
                )
        window = entry.get("window")
        settings[name] = StreamConfig(
            page_size=page_size,
            window_ms=None
            if window is None
            else parse_duration_ms(f"{key}.window", window),
        )
    return settings


def _buckets(table: Mapping[str, Any]) -> dict[str, BucketConfig]:
    known = {endpoint.bucket for endpoint in catalog.ENDPOINTS}
    buckets = {}
    for path, entry in table.items():
        key = f"buckets.{path!r}"
        if path not in known:
            raise ConfigError(key, "no such bucket; see 'harvester endpoints'")
        if not isinstance(entry, dict):
            raise ConfigError(key, "expected a table")
        _reject_unknown(key, entry, {"limit", "period"})
        period = entry.get("period")
        if (
            not isinstance(period, int | float)
            or isinstance(period, bool)
            or (period <= 0)
        ):
            raise ConfigError(f"{key}.period", f"expected seconds > 0, got {period!r}")
        buckets[path] = BucketConfig(
            _positive(entry, f"{key}.limit", "limit", 1), float(period)
        )
    return buckets


def _emulator(table: Mapping[str, Any]) -> EmulatorConfig:
    _reject_unknown("emulator", table, {"seed", "scale", "faults"})
    return EmulatorConfig(
        seed=_typed(table, "emulator.seed", "seed", int, 7),
        scale=_choice(table, "emulator.scale", "scale", ("demo", "large"), "demo"),
        faults=_faults(_typed(table, "emulator.faults", "faults", str, "none")),
    )


def _budget(table: Mapping[str, Any]) -> BudgetConfig:
    _reject_unknown("budget", table, set(BudgetConfig.__dataclass_fields__))
    defaults = BudgetConfig()
    env = _typed(
        table, "budget.redis_url_env", "redis_url_env", str, defaults.redis_url_env
    )
    if not ENV_NAME.fullmatch(env):
        raise ConfigError(
            "budget.redis_url_env",
            f"expected an environment variable name, got {env!r}",
        )
    return BudgetConfig(
        kind=_choice(table, "budget.kind", "kind", BUDGET_KINDS, defaults.kind),
        redis_url_env=env,
        redis_url_file=_typed(
            table, "budget.redis_url_file", "redis_url_file", str, ""
        ),
    )


def _executor(table: Mapping[str, Any]) -> ExecutorConfig:
    _reject_unknown("executor", table, set(ExecutorConfig.__dataclass_fields__))
    defaults = ExecutorConfig()
    return ExecutorConfig(
        kind=_choice(table, "executor.kind", "kind", EXECUTOR_KINDS, defaults.kind),
        address=_typed(table, "executor.address", "address", str, ""),
        workers=_positive(table, "executor.workers", "workers", defaults.workers),
    )


def _faults(profile: str) -> str:
    from harvester.emulator.faults import FaultPlan

    try:
        FaultPlan.parse(profile)
    except ValueError as error:
        raise ConfigError("emulator.faults", str(error)) from None
    return profile


def _sink_kinds(table: Mapping[str, Any]) -> str:
    # Several sinks run side by side as one, named by joining with "+".
    value = table.get("kind", "ndjson")
    kinds = [value] if isinstance(value, str) else value
    if not isinstance(kinds, list) or not kinds:
        raise ConfigError("sink.kind", f"expected a name or a list, got {value!r}")
    for kind in kinds:
        if kind not in SINK_KINDS:
            raise ConfigError(
                "sink.kind", f"expected one of {', '.join(SINK_KINDS)}; got {kind!r}"
            )
    if len(set(kinds)) < len(kinds):
        raise ConfigError("sink.kind", f"names a sink twice: {kinds!r}")
    return "+".join(kinds)


def _sink_settings(table: Mapping[str, Any]) -> SinkConfig:
    defaults = SinkConfig()
    values = {}
    for name in SinkConfig.__dataclass_fields__:
        default = getattr(defaults, name)
        values[name] = _typed(table, f"sink.{name}", name, type(default), default)
    settings = SinkConfig(**values)
    if "postgres" in _sink_kinds(table).split("+"):
        _check_postgres(settings)
    return settings


def _check_postgres(settings: SinkConfig) -> None:
    # The DSN is never echoed: it is the one setting that could hold a secret.
    if bool(settings.dsn) == bool(settings.host):
        raise ConfigError("sink.dsn", "set exactly one of sink.dsn and sink.host")
    if settings.dsn:
        parts = urlsplit(settings.dsn)
        if parts.scheme not in ("postgres", "postgresql"):
            raise ConfigError("sink.dsn", "expected a postgresql:// URL")
        if parts.password is not None or "password=" in parts.query:
            raise ConfigError(
                "sink.dsn",
                "holds a password; put it in the environment variable named "
                "by sink.password_env",
            )
    if not 0 < settings.port < 65536:
        raise ConfigError("sink.port", f"expected 1 to 65535, got {settings.port!r}")
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", settings.schema):
        raise ConfigError(
            "sink.schema",
            f"expected a lower-case SQL name, got {settings.schema!r}",
        )


def _table(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(name, f"expected a table, got {value!r}")
    return value


def _reject_unknown(where: str, table: Mapping[str, Any], known: set[str]) -> None:
    for key in table:
        if key not in known:
            name = f"{where}.{key}" if where else key
            raise ConfigError(
                name, f"unknown key; expected one of {', '.join(sorted(known))}"
            )


def _typed(
    table: Mapping[str, Any], key: str, name: str, kind: Any, default: Any
) -> Any:
    value = table.get(name, default)
    if (
        isinstance(value, bool)
        and kind is not bool
        and bool not in (kind if isinstance(kind, tuple) else (kind,))
    ):
        raise ConfigError(key, f"expected {_kind_name(kind)}, got {value!r}")
    if not isinstance(value, kind):
        raise ConfigError(key, f"expected {_kind_name(kind)}, got {value!r}")
    return value


def _positive(table: Mapping[str, Any], key: str, name: str, default: int) -> int:
    value = _typed(table, key, name, int, default)
    if value < 1:
        raise ConfigError(key, f"expected a whole number > 0, got {value!r}")
    return int(value)


def _choice(
    table: Mapping[str, Any],
    key: str,
    name: str,
    choices: tuple[str, ...],
    default: str,
) -> str:
    value = _typed(table, key, name, str, default)
    if value not in choices:
        raise ConfigError(key, f"expected one of {', '.join(choices)}; got {value!r}")
    return str(value)


def _kind_name(kind: Any) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {
        str: "a string",
        int: "an integer",
        bool: "true or false",
        float: "a number",
    }
    return " or ".join(names.get(k, k.__name__) for k in kinds)
