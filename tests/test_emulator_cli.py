"""`harvester emulate` as a process: first line the base URL, clean exit
on SIGTERM, one-line errors on bad input, secrets from the environment."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import urllib.request

import pytest

from harvester.emulator import cli

LAUNCH = (
    "import argparse, sys; from harvester.emulator import cli; "
    "p = argparse.ArgumentParser(); cli.add_arguments(p); "
    "sys.exit(cli.main(p.parse_args()))"
)


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser.parse_args(argv)


def test_defaults_bind_loopback_on_a_free_port() -> None:
    args = parse()
    assert (args.host, args.port, args.seed, args.scale) == ("127.0.0.1", 0, 7, "demo")


@pytest.mark.parametrize(
    "argv",
    [("--limit", "nonsense"), ("--limit", "/no/such/path=5/2"), ("--faults", "chaos")],
)
def test_bad_arguments_give_one_line_and_exit_2(
    argv: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(parse(*argv)) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert error.startswith("harvester emulate: ")


def test_limits_are_parsed() -> None:
    path = "/v3/auth/tokens"
    assert cli.parse_limits([f"{path}=5/2.5"]) == {path: (5, 2.5)}


def test_serves_until_sigterm_and_hides_secrets() -> None:
    env = os.environ | {"ESM_PASSWORD": "pw-hidden", "ESM_APP_CODE": "code-hidden"}
    process = subprocess.Popen(
        [sys.executable, "-c", LAUNCH, "--seed", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(base_url + "/_emulator/stats", timeout=5) as r:
            assert r.status == 200
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0
    assert "hidden" not in errors


def test_open_auth_is_announced(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ESM_PASSWORD", raising=False)
    monkeypatch.delenv("ESM_APP_CODE", raising=False)
    settings = cli.settings_from(parse())
    assert settings.password is None and settings.app_code is None
    assert "auth is open" in caplog.text
