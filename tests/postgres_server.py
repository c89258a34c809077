"""A throwaway PostgreSQL cluster for tests, on loopback only.

`PostgresServer.start()` runs Debian's `initdb` into a temporary
directory, then `pg_ctl` on a free port of 127.0.0.1 with the unix socket
in that directory and password authentication; `stop()` ends it and
removes everything. PostgreSQL refuses to run as root, so under root the
cluster belongs to the `postgres` user that Debian's package creates.
`make test` installs the package when it is missing.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from glob import glob
from pathlib import Path
from typing import Any

START_ATTEMPTS = 3
COMMAND_SECONDS = 60
USER = "harvester"
# Durability of the server is not under test; the sink's transactions are.
SETTINGS = "-c fsync=off -c full_page_writes=off -c synchronous_commit=off"


class Unavailable(Exception):
    """Raised when no cluster can be started here, saying why."""


@dataclass
class PostgresServer:
    """A running throwaway cluster: where it listens and how to log in."""

    root: Path
    port: int
    password: str
    binaries: Path
    owner: dict[str, Any]

    @property
    def dsn(self) -> str:
        """A DSN without the password, as the sink's config takes it."""
        return f"postgresql://{USER}@127.0.0.1:{self.port}/postgres"

    @classmethod
    def start(cls) -> PostgresServer:
        """Create and start a cluster.

        Raises:
            Unavailable: PostgreSQL is not installed or will not start.
        """
        binaries = _binaries()
        owner = _owner()
        root = Path(tempfile.mkdtemp(prefix="harvester-pg-"))
        try:
            server = cls(root, 0, secrets.token_urlsafe(16), binaries, owner)
            server._init()
            server._listen()
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        return server

    def stop(self) -> None:
        """Stop the cluster at once and delete its files."""
        try:
            self._run("pg_ctl", "-D", self.root / "data", "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def _init(self) -> None:
        password_file = self.root / "password"
        password_file.write_text(self.password)
        password_file.chmod(0o600)
        if self.owner:
            for path in (self.root, password_file):
                os.chown(path, self.owner["user"], self.owner["group"])
        self._run(
            "initdb", "-D", self.root / "data", "-U", USER,
            "--pwfile", password_file, "--auth", "scram-sha-256",
            "-E", "UTF8", "--locale", "C", "--no-sync",
        )  # fmt: skip
        password_file.unlink()

    def _listen(self) -> None:
        # Another process may take the free port before the server binds it.
        failure = Unavailable("the server did not start")
        for _ in range(START_ATTEMPTS):
            self.port = _free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                f"-c unix_socket_directories={self.root} {SETTINGS}"
            )
            try:
                self._run(
                    "pg_ctl", "-D", self.root / "data", "-l", self.root / "log",
                    "-o", options, "-w", "-t", "30", "start",
                )  # fmt: skip
                return
            except Unavailable as error:
                failure = error
        raise failure

    def _run(self, program: str, *arguments: object) -> None:
        command = [str(self.binaries / program), *map(str, arguments)]
        try:
            subprocess.run(
                command,
                check=True,
                capture_output=True,
                timeout=COMMAND_SECONDS,
                cwd=self.root,
                **self.owner,
            )
        except subprocess.CalledProcessError as error:
            reason = error.stderr.decode(errors="replace").strip().splitlines()
            raise Unavailable(f"{program} failed: {' '.join(reason[-2:])}") from error
        except (OSError, subprocess.TimeoutExpired) as error:
            raise Unavailable(f"{program} failed: {error}") from error


def _binaries() -> Path:
    # Debian keeps the server programs out of PATH, one folder per version.
    found = sorted(glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise Unavailable("PostgreSQL is not installed (make test installs it)")


def _version(path: str) -> tuple[int, ...]:
    version = Path(path).parent.parent.name
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def _owner() -> dict[str, Any]:
    if os.geteuid() != 0:
        return {}
    try:
        account = pwd.getpwnam("postgres")
    except KeyError:
        raise Unavailable("running as root and there is no postgres user") from None
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
