"""`harvester emulate`: serve an emulated ESM site until interrupted.

The password and app code come from the environment (`ESM_PASSWORD`,
`ESM_APP_CODE`), never from the command line, where other users could
read them; left unset, auth is open. The base URL is the first line of
stdout, so scripts can start the emulator and read where it listens.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Mapping

from harvester.emulator import latency
from harvester.emulator.faults import PROFILES
from harvester.emulator.server import start_emulator
from harvester.emulator.settings import (
    OFFSET_UNITS,
    SCALES,
    WINDOW_ENDS,
    EmulatorSettings,
)

logger = logging.getLogger(__name__)

LOOPBACK = ("127.0.0.1", "::1", "localhost")
PASSWORD_ENV = "ESM_PASSWORD"
APP_CODE_ENV = "ESM_APP_CODE"
_LIMIT = re.compile(r"(?P<path>/\S+)=(?P<limit>\d+)/(?P<period>\d+(\.\d+)?)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the emulator's options to `parser`."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind")
    parser.add_argument(
        "--port", type=int, default=0, help="port to bind; 0 picks a free one"
    )
    parser.add_argument("--seed", type=int, default=7, help="data seed")
    parser.add_argument("--scale", choices=SCALES, default="demo", help="data volume")
    parser.add_argument(
        "--faults",
        default="none",
        metavar="PROFILE",
        help="fault profile, or several joined by commas: " + ", ".join(PROFILES),
    )
    parser.add_argument(
        "--token-ttl", type=float, default=86400.0, metavar="SECONDS",
        help="token lifetime",
    )  # fmt: skip
    parser.add_argument("--offset-unit", choices=OFFSET_UNITS, default="records")
    parser.add_argument("--window-end", choices=WINDOW_ENDS, default="exclusive")
    parser.add_argument(
        "--limit", action="append", default=[], metavar="PATH=N/SECONDS",
        help="override a bucket's limit, e.g. /v3/auth/tokens=5/2 (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--exit-with-stdin", action="store_true",
        help="stop when standard input closes (the parent process is gone)",
    )  # fmt: skip
    parser.add_argument(
        "--sdr-job-seconds", type=float, default=3.0, metavar="SECONDS",
        help="how long an SDR job runs before it succeeds",
    )  # fmt: skip
    parser.add_argument(
        "--latency", action="append", default=[], metavar="SPEC",
        help="latency model: " + ", ".join(latency.NAMED) + ", or "
        "BUCKET=tp50:20ms,tp999:50ms[,tail:1%%@50ms][,stall:1s@every10s] "
        f"(BUCKET may be *; repeatable; default from ${latency.ENV})",
    )  # fmt: skip


def parse_limits(texts: list[str]) -> Mapping[str, tuple[int, float]]:
    """Read `PATH=N/SECONDS` overrides.

    Raises:
        ValueError: a text is not of that form.
    """
    limits: dict[str, tuple[int, float]] = {}
    for text in texts:
        found = _LIMIT.fullmatch(text)
        if found is None:
            raise ValueError(f"--limit wants PATH=N/SECONDS, got {text!r}")
        limits[found["path"]] = (int(found["limit"]), float(found["period"]))
    return limits


def settings_from(args: argparse.Namespace) -> EmulatorSettings:
    """Settings from parsed arguments and the environment.

    Raises:
        ValueError: an argument is invalid.
    """
    password = os.environ.get(PASSWORD_ENV) or None
    app_code = os.environ.get(APP_CODE_ENV) or None
    if password is None or app_code is None:
        logger.warning(
            "auth is open: %s or %s is unset, so any non-empty value is accepted",
            PASSWORD_ENV,
            APP_CODE_ENV,
        )
    return EmulatorSettings(
        seed=args.seed,
        scale=args.scale,
        faults=args.faults,
        token_ttl_s=args.token_ttl,
        password=password,
        app_code=app_code,
        offset_unit=args.offset_unit,
        window_end=args.window_end,
        limits=parse_limits(args.limit),
        sdr_job_seconds=args.sdr_job_seconds,
        latency=latency.parse_latency(
            args.latency or latency.from_environment(os.environ.get(latency.ENV))
        ),
    )


def main(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM; 0 on a clean stop, 2 on bad input."""
    try:
        settings = settings_from(args)
    except ValueError as error:
        print(f"harvester emulate: {error}", file=sys.stderr)
        return 2
    if args.host not in LOOPBACK:
        logger.warning("listening on %s: reachable beyond this machine", args.host)
    try:
        asyncio.run(_serve(settings, args.host, args.port, args.exit_with_stdin))
    except (OSError, OverflowError) as error:
        print(f"harvester emulate: cannot listen: {error}", file=sys.stderr)
        return 1
    return 0


async def _serve(
    settings: EmulatorSettings, host: str, port: int, exit_with_stdin: bool
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    if exit_with_stdin:
        # A parent killed outright cannot stop its child; its end of the
        # pipe closing is the one sign of it that always arrives.
        # The file descriptor is read directly: a thread blocked inside the
        # buffered stdin object would hold its lock at interpreter exit.
        def watch() -> None:
            while os.read(sys.stdin.fileno(), 4096):
                pass
            loop.call_soon_threadsafe(stop.set)

        threading.Thread(target=watch, daemon=True).start()

    emulator = await start_emulator(settings, host, port)
    try:
        print(emulator.base_url, flush=True)
        await stop.wait()
    finally:
        await emulator.close()
