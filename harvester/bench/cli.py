"""`harvester bench`: load-benchmark a site against its documented SLA.

Requests go out on an open-loop schedule at each bucket's documented
limit (or the asked rate), latency counts from each request's scheduled
send time, and each stream gets a pass/fail line per SLA item. Prints the
verdict table and writes `report.json` and `report.html` under `--out`.
Exit codes: 0 no SLA item failed; 1 an item failed or the site could not
be set up; 2 bad input; 3 the site refused the credentials.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import anyio

from harvester import config
from harvester.bench import report_html, report_json, report_text
from harvester.bench.rates import parse_rates
from harvester.bench.runner import BenchOptions, bench
from harvester.errors import AuthError, ConfigError, HarvestError

log = logging.getLogger(__name__)

EXIT_FAILED, EXIT_USAGE, EXIT_AUTH = 1, 2, 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the benchmark's options to `parser`."""
    parser.add_argument(
        "-c", "--config", required=True, type=Path, help="TOML config file"
    )
    parser.add_argument(
        "--streams", nargs="+", metavar="NAME", help="stream names or glob patterns"
    )
    rates = parser.add_mutually_exclusive_group()
    rates.add_argument(
        "--rate", metavar="R",
        help="per bucket: requests/s (250) or share of its limit (50%%); "
        "default 100%%, the limit less a 1%% margin",
    )  # fmt: skip
    rates.add_argument(
        "--rate-steps", metavar="R1,R2,...", help="a series of rates, one step each"
    )
    parser.add_argument(
        "--max-rate", type=_positive(float), metavar="R",
        help="cap every bucket at R requests/s, e.g. what this machine can "
        "drive honestly",
    )  # fmt: skip
    parser.add_argument(
        "--duration", type=_positive(float), default=10.0, metavar="SECONDS",
        help="length of each step (default 10)",
    )  # fmt: skip
    parser.add_argument(
        "--max-requests", type=_positive(int), default=50_000, metavar="N",
        help="most requests in one step; a longer step is shortened (default 50000)",
    )  # fmt: skip
    parser.add_argument(
        "--out", type=Path, default=Path("out/bench"),
        help="where report.json and report.html go (default out/bench)",
    )  # fmt: skip
    parser.add_argument(
        "--over-limit", action="store_true",
        help="allow rates past a bucket's documented limit",
    )  # fmt: skip
    parser.add_argument(
        "--page-size", type=_positive(int), metavar="N",
        help="page size to ask for (default: the config's, else the maximum)",
    )  # fmt: skip
    parser.add_argument(
        "--timeout", type=_positive(float), default=10.0, metavar="SECONDS",
        help="a request unanswered after this long is a timeout (default 10)",
    )  # fmt: skip
    parser.add_argument(
        "--connections", type=_positive(int), default=256, metavar="N",
        help="most connections open at once (default 256)",
    )  # fmt: skip
    parser.add_argument(
        "--emulator-latency", action="append", default=[], metavar="SPEC",
        help="latency model for the built-in emulator, as `harvester emulate "
        "--latency` takes it (e.g. within-sla); ignored for a configured site",
    )  # fmt: skip


def main(args: argparse.Namespace) -> int:
    """Run the benchmark; print the verdict table and write the reports."""
    try:
        settings = config.with_overrides(config.load(args.config), streams=args.streams)
        options = BenchOptions(
            rates=tuple(parse_rates(args.rate, args.rate_steps)),
            max_rate=args.max_rate,
            duration_s=args.duration,
            max_requests=args.max_requests,
            over_limit=args.over_limit,
            page_size=args.page_size,
            timeout_s=args.timeout,
            connections=args.connections,
            emulator_latency=tuple(args.emulator_latency),
        )
        if options.over_limit:
            log.warning("--over-limit: the site may be driven past its limit")
        result = anyio.run(bench, settings, options)
    except ConfigError as error:
        print(f"harvester bench: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except AuthError as error:
        print(f"harvester bench: error: {error}", file=sys.stderr)
        return EXIT_AUTH
    except HarvestError as error:
        print(f"harvester bench: error: {error}", file=sys.stderr)
        return EXIT_FAILED
    doc = report_json.document(result)
    print(report_text.render(doc))
    report_json.write(doc, args.out / "report.json")
    report_html.write(doc, args.out / "report.html")
    print(f"reports: {args.out / 'report.json'}, {args.out / 'report.html'}")
    return EXIT_FAILED if result.failed else 0


def _positive(kind: type[float] | type[int]) -> object:
    def convert(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
        return value

    return convert
