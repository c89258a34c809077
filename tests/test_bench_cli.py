"""`harvester bench` from its command line: reports, exit codes, bad input.

Runs that reach the event loop go through a child process, as a user's
would, so the test runner's own loop handling stays out of the way.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from harvester.bench import cli

LAUNCH = (
    "import argparse, sys; from harvester.bench import cli; "
    "p = argparse.ArgumentParser(); cli.add_arguments(p); "
    "sys.exit(cli.main(p.parse_args()))"
)


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser.parse_args(argv)


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "bench.toml"
    path.write_text('[site]\nbase_url = ""\n')
    return path


def bench(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", LAUNCH, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_short_run_writes_both_reports_and_exits_by_the_verdict(
    config_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    done = bench(
        "-c", str(config_file), "--streams", "elbv3", "audit_logs",
        "--rate", "100%", "--max-rate", "50", "--duration", "1",
        "--page-size", "5", "--out", str(out),
    )  # fmt: skip
    printed = done.stdout
    doc = orjson.loads((out / "report.json").read_bytes())
    assert done.returncode == (1 if doc["failed"] else 0)
    assert (out / "report.html").read_text().count('<svg class="chart"') == 6
    assert "audit_logs" in printed and "SLA:" in printed
    (step,) = doc["steps"]
    rates = {b["bucket"].rsplit("/", 1)[-1]: b["offered_rate"] for b in step["buckets"]}
    assert rates == {"elbv3": 50, "cloudAuditlog": pytest.approx(1 / 1.01)}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--streams", "audit_logs", "--rate", "5"), "--over-limit"),
        (("--streams", "no_such_stream"), "no stream matches"),
        (("--streams", "host_metrics", "--page-size", "5000"), "maximum"),
        (("--streams", "elbv3", "--emulator-latency", "slow"), "latency"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    config_file: Path, argv: tuple[str, ...], message: str
) -> None:
    done = bench("-c", str(config_file), *argv)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and message in done.stderr


def test_a_missing_config_is_exit_2(tmp_path: Path) -> None:
    assert cli.main(parse("-c", str(tmp_path / "none.toml"))) == 2


@pytest.mark.parametrize(
    "argv", [("--rate", "1", "--rate-steps", "1,2"), ("--duration", "0")]
)
def test_malformed_options_are_refused_by_the_parser(argv: tuple[str, ...]) -> None:
    with pytest.raises(SystemExit) as stopped:
        parse("-c", "x.toml", *argv)
    assert stopped.value.code == 2
