"""The command line: one-line errors, exit codes, help and the catalog."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import orjson
import pytest
from hostile_site import HostileSite, hostile_site

from harvester import catalog
from harvester.cli import main

GOOD_SITE = '[site]\nbase_url = "{url}"\n'
BAD_CONFIGS = {
    "unknown-key": GOOD_SITE + "[run]\ncolour = 'red'\n",
    "wrong-type": GOOD_SITE + "[run]\nattempts = 'many'\n",
    "bad-time": GOOD_SITE + "[run]\nsince = 'last tuesday'\n",
    "until-before-since": GOOD_SITE + "[run]\nsince = '-1d'\nuntil = '-2d'\n",
    "unknown-stream": GOOD_SITE + "[run]\nstreams = ['nope']\n",
    "page-size-past-cap": GOOD_SITE + "[streams.elbv3]\npage_size = 1001\n",
    "bad-domain-id": '[site]\nbase_url = "{url}"\ndomain_id = "a/b"\n',
    "not-toml": "[site\n",
    "plain-http-off-loopback": '[site]\nbase_url = "http://esm.example.com"\n',
}


@pytest.fixture
async def site() -> AsyncIterator[HostileSite]:
    async with hostile_site() as site:
        yield site


async def run_main(args: list[str]) -> int:
    return await anyio.to_thread.run_sync(main, args)


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
async def test_bad_input_is_one_line_and_no_request(
    site: HostileSite,
    tmp_path: Path,
    case: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ESM_PASSWORD", "p")
    monkeypatch.setenv("ESM_APP_CODE", "c")
    config = tmp_path / "bad.toml"
    config.write_text(BAD_CONFIGS[case].format(url=site.base_url))
    code = await run_main(["-q", "run", "-c", str(config), "--out", str(tmp_path)])
    error = capsys.readouterr().err.strip()
    assert code == 2
    assert error.startswith("harvester: error: ") and "\n" not in error
    assert sum(site.seen.values()) == 0


async def test_a_missing_secret_names_its_variable(
    site: HostileSite,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ESM_PASSWORD", raising=False)
    config = tmp_path / "site.toml"
    config.write_text(GOOD_SITE.format(url=site.base_url))
    assert await run_main(["run", "-c", str(config)]) == 2
    assert "ESM_PASSWORD" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args",
    [
        ["run", "-c", "x.toml", "--since", "soon"],
        ["run", "-c", "x.toml", "--streams", "nope*"],
        ["run"],
        ["verify"],
        ["frobnicate"],
    ],
)
def test_bad_arguments_exit_2(
    args: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.toml").write_text("")
    with pytest.raises(SystemExit) as exited:
        raise SystemExit(main(args))
    assert exited.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


async def test_an_unwritable_output_directory_is_one_line(
    site: HostileSite,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ESM_PASSWORD", "p")
    monkeypatch.setenv("ESM_APP_CODE", "c")
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    config = tmp_path / "site.toml"
    config.write_text(
        GOOD_SITE.format(url=site.base_url) + "[run]\nstreams = ['elbv3']\n"
    )
    code = await run_main(
        ["-q", "run", "-c", str(config), "--out", str(blocker / "out")]
    )
    error = capsys.readouterr().err.strip()
    assert code == 1
    assert "cannot write" in error and "\n" not in error


@pytest.mark.parametrize(
    "command", [[], ["run"], ["verify"], ["endpoints"], ["emulate"]]
)
def test_every_subcommand_has_help(command: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*command, "--help"])
    assert exited.value.code == 0


def test_endpoints_json_lists_every_stream(
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    assert main(["endpoints", "--json"]) == 0
    rows = orjson.loads(capsysbinary.readouterr().out)
    assert [row["stream"] for row in rows] == [s.name for s in catalog.STREAMS]
    assert {"stream", "method", "path", "bucket", "limit"} <= set(rows[0])


def test_endpoints_operations_cover_the_reference(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["endpoints", "--operations"]) == 0
    table = capsys.readouterr().out
    sections = ["3.2", *(f"4.1.{n}" for n in range(1, 17) if n != 10)]
    sections += [f"4.1.10.{n}" for n in range(1, 5)]
    sections += ["4.2.1", "4.2.2", "4.2.3"]
    for section in sections:
        assert f" {section} " in table, section
