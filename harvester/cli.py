"""The `harvester` command: run, verify, endpoints, bench, emulate.

Every subcommand exits non-zero with a one-line reason on bad input.
Exit codes: 0 success; 1 a unit failed or a harvest does not verify;
2 bad input (command line, config, environment); 3 the site refused the
credentials. A site that cannot be reached at all ends the run with 1.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import orjson

from harvester import catalog, config, estimate, logs, metrics, report
from harvester.embedded import embedded_site
from harvester.errors import AuthError, ConfigError, HarvestError
from harvester.runner import Outcome, harvest
from harvester.verify import verify

log = logging.getLogger("harvester")

EXIT_FAILED, EXIT_USAGE, EXIT_AUTH = 1, 2, 3


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `harvester` console script."""
    args = _parser().parse_args(argv)
    logs.configure(_level(args.verbose - args.quiet), args.log_format)
    try:
        code: int = args.handler(args)
        return code
    except ConfigError as error:
        print(f"harvester: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except HarvestError as error:
        print(f"harvester: error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as error:
        where = f" {error.filename!r}" if error.filename else ""
        print(
            f"harvester: error: cannot write{where}: {error.strerror or error}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("harvester: interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="harvester", description=__doc__.splitlines()[0])
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more log detail (-vv for every request)",
    )
    parser.add_argument(
        "-q", "--quiet", action="count", default=0, help="less log detail"
    )
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="log lines as text or as JSON objects",
    )
    commands = parser.add_subparsers(
        title="subcommands", required=True, parser_class=_Parser
    )

    run = commands.add_parser("run", help="harvest a site (or the built-in emulator)")
    run.add_argument(
        "-c", "--config", required=True, type=Path, help="TOML config file"
    )
    run.add_argument("--out", type=Path, help="output directory (default: run.out)")
    run.add_argument("--since", help="start: ISO-8601, epoch ms or '-1d'")
    run.add_argument("--until", help="end (exclusive): ISO-8601, epoch ms or 'now'")
    run.add_argument(
        "--streams", nargs="+", metavar="NAME", help="stream names or glob patterns"
    )
    run.add_argument(
        "--metrics-port",
        type=int,
        metavar="N",
        help="serve Prometheus metrics on this port during the run (0: any free)",
    )
    run.add_argument(
        "--metrics-host",
        default=metrics.DEFAULT_HOST,
        help="address for --metrics-port (default: 127.0.0.1)",
    )
    run.add_argument(
        "--executor",
        choices=("local", "ray"),
        help="run units in this process or on Ray workers (default: executor.kind)",
    )
    run.add_argument(
        "--workers", type=int, metavar="N", help="Ray workers (default: 2)"
    )
    run.add_argument(
        "--ray-address",
        metavar="ADDR",
        help="Ray cluster to join (default: start one on loopback for the run)",
    )
    run.set_defaults(handler=_run)

    plan = commands.add_parser(
        "plan", help="forecast a run's requests and wall time, sending none"
    )
    estimate.add_arguments(plan)
    plan.set_defaults(handler=estimate.main)

    check = commands.add_parser("verify", help="compare a harvest with ground truth")
    check.add_argument("--out", required=True, type=Path, help="output directory")
    check.add_argument("--base-url", required=True, help="the emulator's base URL")
    check.set_defaults(handler=_verify)

    endpoints = commands.add_parser("endpoints", help="list the catalog")
    endpoints.add_argument(
        "--json", action="store_true", help="one JSON object per stream"
    )
    endpoints.add_argument(
        "--operations",
        action="store_true",
        help="list every API operation instead of streams",
    )
    endpoints.set_defaults(handler=_endpoints)

    bench = commands.add_parser(
        "bench", help="load-benchmark a site against its documented SLA"
    )
    from harvester.bench import cli as bench_cli

    bench_cli.add_arguments(bench)
    bench.set_defaults(handler=bench_cli.main)

    emulate = commands.add_parser("emulate", help="serve the built-in ESM emulator")
    from harvester.emulator import cli as emulator_cli

    emulator_cli.add_arguments(emulate)
    emulate.set_defaults(handler=emulator_cli.main)
    return parser


def _run(args: argparse.Namespace) -> int:
    settings = config.with_overrides(
        config.load(args.config),
        since=args.since,
        until=args.until,
        streams=args.streams,
        out=str(args.out) if args.out else None,
        executor=args.executor,
        workers=args.workers,
        ray_address=args.ray_address,
    )
    views = {
        "show_progress": not args.quiet,
        "metrics_port": args.metrics_port,
        "metrics_host": args.metrics_host,
    }
    return anyio.run(_run_async, settings, Path(settings.out).resolve(), views)


async def _run_async(
    settings: config.RunConfig, out: Path, views: dict[str, Any]
) -> int:
    if not settings.site.embedded:
        secrets = config.read_secrets(settings.site)
        logs.mask(secrets.password, secrets.app_code)
        outcome = await harvest(settings, secrets, out, handle_signals=True, **views)
        print(report.summary(outcome.report, outcome.manifest), file=sys.stderr)
        return _exit_code(outcome)
    async with embedded_site(settings) as (site_settings, secrets):
        logs.mask(secrets.password, secrets.app_code)
        outcome = await harvest(
            site_settings, secrets, out, handle_signals=True, **views
        )
        print(report.summary(outcome.report, outcome.manifest), file=sys.stderr)
        if outcome.fatal or outcome.interrupted:
            return _exit_code(outcome)
        checks = await verify(out, site_settings.site.base_url)
    print(report.verification(checks), file=sys.stderr)
    if not all(check.exact for check in checks):
        return EXIT_FAILED
    return _exit_code(outcome)


def _exit_code(outcome: Outcome) -> int:
    if outcome.interrupted is not None:
        print(
            "harvester: interrupted; rerun the same command to resume", file=sys.stderr
        )
        return 128 + outcome.interrupted
    if outcome.fatal is not None:
        print(f"harvester: error: {outcome.fatal}", file=sys.stderr)
        return EXIT_AUTH if isinstance(outcome.fatal, AuthError) else EXIT_FAILED
    failed = outcome.report.failed_units
    for unit in failed:
        print(f"harvester: unit failed: {unit.unit}: {unit.error}", file=sys.stderr)
    return EXIT_FAILED if failed else 0


def _verify(args: argparse.Namespace) -> int:
    checks = anyio.run(verify, args.out, args.base_url)
    print(report.verification(checks))
    return 0 if all(check.exact for check in checks) else EXIT_FAILED


def _endpoints(args: argparse.Namespace) -> int:
    if args.operations:
        rows = [_operation(endpoint) for endpoint in catalog.ENDPOINTS]
    else:
        rows = [stream.describe() for stream in catalog.STREAMS]
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        print(report.table(rows))
    return 0


def _operation(endpoint: catalog.Endpoint) -> dict[str, object]:
    return {
        "endpoint": endpoint.name,
        "section": endpoint.section,
        "method": endpoint.method,
        "path": endpoint.path,
        "paging": endpoint.paging.value,
        "limit": endpoint.sla.limit,
        "period_s": endpoint.sla.period,
        "sla_documented": endpoint.sla.documented,
    }


def _level(verbosity: int) -> int:
    levels = {-2: logging.ERROR, -1: logging.WARNING, 0: logging.INFO}
    return levels.get(verbosity, logging.DEBUG if verbosity > 0 else logging.ERROR)
