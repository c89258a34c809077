"""A throwaway Redis server for tests, on loopback only.

`RedisServer.start()` runs Debian's `redis-server` on a free port of
127.0.0.1, persistence off and protected mode on, optionally asking for a
password; `stop()` ends it and removes its files. The settings go in a
file of mode 0600, so the password is not on a command line. `make test`
installs the package when it is missing.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

START_ATTEMPTS = 3
START_SECONDS = 10.0
STOP_SECONDS = 10.0


class Unavailable(Exception):
    """Raised when no server can be started here, saying why."""


@dataclass
class RedisServer:
    """A running throwaway server: where it listens and its password."""

    root: Path
    port: int
    password: str
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's URL, its password in it when it asks for one."""
        login = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"redis://{login}127.0.0.1:{self.port}/0"

    @classmethod
    def start(cls, password: str = "") -> RedisServer:
        """Start a server.

        Raises:
            Unavailable: Redis is not installed or will not start.
        """
        program = shutil.which("redis-server")
        if program is None:
            raise Unavailable("redis-server is not installed (make test installs it)")
        root = Path(tempfile.mkdtemp(prefix="harvester-redis-"))
        server = cls(root, 0, password)
        try:
            server._listen(program)
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        return server

    def stop(self) -> None:
        """Stop the server and delete its files."""
        try:
            if self.process is not None and self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(STOP_SECONDS)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def _listen(self, program: str) -> None:
        # Another process may take the free port before the server binds it.
        failure = Unavailable("the server did not start")
        for _ in range(START_ATTEMPTS):
            self.port = _free_port()
            settings = self.root / "redis.conf"
            settings.touch(mode=0o600)
            settings.write_text(self._settings())
            log = (self.root / "log").open("wb")
            with log:
                self.process = subprocess.Popen(
                    [program, str(settings)], stdout=log, stderr=subprocess.STDOUT
                )
            try:
                self._wait_until_ready()
                return
            except Unavailable as error:
                failure = error
                self.kill()
        raise failure

    def kill(self) -> None:
        """Stop the server at once, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def _settings(self) -> str:
        lines = [
            f"port {self.port}",
            "bind 127.0.0.1",
            "protected-mode yes",
            'save ""',
            "appendonly no",
            f"dir {self.root}",
        ]
        if self.password:
            lines.append(f"requirepass {self.password}")
        return "\n".join(lines) + "\n"

    def _wait_until_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                reason = (self.root / "log").read_text(errors="replace").strip()
                last = reason.splitlines()[-1] if reason else "no output"
                raise Unavailable(f"redis-server exited: {last}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), 0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise Unavailable(f"redis-server did not listen within {START_SECONDS:g} s")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
