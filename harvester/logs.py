"""Log lines: text for people, JSON lines for machines, secrets in neither.

The library only emits records; the command line calls `configure` once.
A record may carry `extra=event(name, unit=..., stream=..., bucket=...)`:
`name` is one of `EVENTS`, stable across releases, and the fields become
keys of the JSON line (or `key=value` after a text line). The run id is
bound once per run with `bound(run_id)` and added to every line logged
within it, tasks included.

Secrets are kept out twice over. Any field whose name says it holds one
(a password, a token, an app code, headers...) is replaced by
`<redacted>` at any depth, so a header mapping never prints its values;
and every value given to `mask` (the password, the app code, each token)
is replaced wherever it shows up in a finished line, message and
traceback included.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import sys
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

EVENTS: Mapping[str, str] = {
    "run.started": "a run began: run_id, streams, units",
    "run.resuming": "an unfinished run's span is taken up again: out",
    "run.progress": "periodic progress: requests, planned, units, records, eta_s",
    "run.interrupted": "SIGINT or SIGTERM: units in flight abandoned; signal",
    "run.finished": "a run ended: units, failed, records, seconds",
    "unit.done": "a unit committed: unit, stream, bucket, records, pages, seconds",
    "unit.redo": "a unit is redone after a bad answer: unit, stream, error",
    "unit.failed": "a unit gave up: unit, stream, bucket, error",
    "unit.skipped": "a unit an earlier run completed: unit, stream",
    "request.answered": "one answer (debug): bucket, endpoint, status, bytes",
    "request.retry": "a request is retried: bucket, endpoint, attempt, delay_s",
    "request.throttled": "a 429 paused a bucket: bucket, endpoint, pause_s",
    "request.dropped": "no answer (timeout, reset): bucket, endpoint, error",
    "token.issued": "an IAM token was issued: lifetime_s",
    "token.refused": "the gateway refused a token, renewing: endpoint, code",
    "sdr.job_failed": "an SDR job failed or stalled: unit, job_id",
    "checkpoints.torn": "torn checkpoint lines were dropped: count",
    "leftovers.removed": "temporary files of a killed run removed: count",
    "emulator.started": "the built-in emulator listens: base_url",
}
CONTEXT = ("run_id", "event", "stream", "unit", "bucket")
REDACTED = "<redacted>"
SENSITIVE = re.compile(
    r"(password|passwd|secret|secrets|token|app_?code|authorization|cookie"
    r"|headers?|credentials?)$"
)
# Too short a value would mask ordinary words; no real secret is this short.
MIN_MASKED = 4
STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}

_run_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "harvester_run_id", default=None
)
# Each masked value, with its JSON-escaped form (the same unless it holds
# quotes, backslashes or control characters).
_masked: dict[str, str] = {}
_HANDLER_NAME = "harvester"


def event(name: str, **fields: Any) -> dict[str, Any]:
    """The `extra=` of a record for event `name` with its fields.

    Raises:
        ValueError: `name` is not one of `EVENTS` (a typo would break
        every consumer that filters on it).
    """
    if name not in EVENTS:
        raise ValueError(f"unknown log event {name!r}")
    return {"event": name, **fields}


@contextlib.contextmanager
def bound(run_id: str) -> Iterator[None]:
    """Add `run_id` to every line logged in this block, tasks started in it too."""
    token = _run_id.set(run_id)
    try:
        yield
    finally:
        _run_id.reset(token)


def mask(*values: str) -> None:
    """Never print any of `values` (secrets) in a line formatted here."""
    for value in values:
        if value and len(value) >= MIN_MASKED:
            _masked[value] = orjson.dumps(value).decode()[1:-1]


def scrub(text: str) -> str:
    """`text` with every masked value, plain or JSON-escaped, replaced."""
    for value, escaped in _masked.items():
        if value in text:
            text = text.replace(value, REDACTED)
        if escaped in text:
            text = text.replace(escaped, REDACTED)
    return text


def fields(record: logging.LogRecord) -> dict[str, Any]:
    """The context and extra fields of `record`, sensitive ones redacted."""
    # Private attributes are other libraries' bookkeeping (Ray stamps
    # every record with `_ray_timestamp_ns`), not fields of an event.
    found = {
        k: v
        for k, v in record.__dict__.items()
        if k not in STANDARD and not k.startswith("_")
    }
    run_id = found.get("run_id") or _run_id.get()
    if run_id:
        found["run_id"] = run_id
    return {key: _redact(key, value) for key, value in found.items()}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, event, message, fields."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line."""
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        # Fields never replace the keys every line has; "event" is a field.
        line |= {k: v for k, v in fields(record).items() if k not in line}
        line.setdefault("event", "log")
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        data = orjson.dumps(line, default=str, option=orjson.OPT_NON_STR_KEYS)
        return scrub(data.decode())


class TextFormatter(logging.Formatter):
    """`time level logger: message [key=value ...]` for people."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """The record as text, its fields after the message."""
        text = super().format(record)
        # The run id is left to JSON lines: in text it would lengthen
        # every line by 32 characters that the run.started line gives.
        extra = {k: v for k, v in fields(record).items() if k != "run_id"}
        if extra:
            ordered = sorted(extra, key=lambda k: (k not in CONTEXT, k))
            pairs = " ".join(f"{k}={_text(extra[k])}" for k in ordered)
            first, newline, rest = text.partition("\n")
            text = f"{first} [{pairs}]{newline}{rest}"
        return scrub(text)


class _StandardError(logging.StreamHandler):  # type: ignore[type-arg]
    # Looks up sys.stderr at each line, so a live progress view that
    # redirects it can print log lines above itself.
    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def configure(
    level: int,
    format: str = "text",
    stream: TextIO | None = None,
    *,
    force: bool = False,
) -> logging.Handler | None:
    """Send the root logger's records at `level` and above to `stream`.

    `format` is "text" or "json"; `stream` defaults to standard error as
    it is at each line. Calling it again replaces the handler it added.
    As with `logging.basicConfig`, a root logger that already has handlers
    someone else added (an application embedding the harvester, a test
    runner) is left alone and None is returned, unless `force`; their
    handlers are kept either way.

    Raises:
        ValueError: `format` is neither "text" nor "json".
    """
    formatters = {"text": TextFormatter, "json": JsonFormatter}
    if format not in formatters:
        raise ValueError(f"log format must be text or json, got {format!r}")
    root = logging.getLogger()
    ours = [h for h in root.handlers if h.get_name() == _HANDLER_NAME]
    if len(ours) < len(root.handlers) and not force:
        return None
    handler = _StandardError() if stream is None else logging.StreamHandler(stream)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatters[format]())
    for old in ours:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler


def format_in_use() -> str:
    """The format of the handler `configure` added: "json" or "text"."""
    for handler in logging.getLogger().handlers:
        if handler.get_name() == _HANDLER_NAME and isinstance(
            handler.formatter, JsonFormatter
        ):
            return "json"
    return "text"


def _redact(key: Any, value: Any) -> Any:
    if isinstance(key, str) and SENSITIVE.search(key.lower().replace("-", "_")):
        return REDACTED
    if isinstance(value, Mapping):
        return {str(k): _redact(k, v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact(None, v) for v in value]
    return value


def _text(value: Any) -> str:
    if isinstance(value, str) and value and " " not in value:
        return value
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
