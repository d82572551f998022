"""``LocalStack``: a real ``retune serve`` and ``retune worker``s as processes, for tests and
scripts that drive retune the way a user does (the browser tests, ``make screenshots``).

    with LocalStack(home, config=TOKENS_TOML) as stack:
        stack.register("flows/", project="demo", domain="development", version="v1")
        httpx.get(f"{stack.url}/ui/workflows")

Every process shares ``home`` (RETUNE_HOME: the SQLite store and the blob store) and listens on
loopback only; ``config`` is written to ``home/config.toml`` before anything starts. Leaving
the block ends the processes it started, and only those (terminate, then kill after 15 s).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO

_RETUNE = str(Path(sys.executable).with_name("retune"))


class LocalStack:
    def __init__(
        self,
        home: Path,
        *,
        workers: int = 1,
        config: str = "",
        env: Mapping[str, str] | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.config = config
        self.start_timeout = start_timeout
        self.env = {**os.environ, "RETUNE_HOME": str(home), **(env or {})}
        for name in ("RETUNE_DATABASE_URL", "RETUNE_SERVER", "RETUNE_API_TOKEN", "RETUNE_BLOB_URL"):
            if env is None or name not in env:
                self.env.pop(name, None)
        self.logs = home / "logs"
        self._processes: list[subprocess.Popen[bytes]] = []
        self._files: list[IO[bytes]] = []

    def __enter__(self) -> LocalStack:
        self.home.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(exist_ok=True)
        if self.config:
            (self.home / "config.toml").write_text(self.config, encoding="utf-8")
        try:
            server = self.start("server", "serve", "--host", "127.0.0.1", "--port", str(self.port))
            self._wait_healthy(server)
            for number in range(self.workers):
                self.start(f"worker-{number}", "worker", "--name", f"worker-{number}")
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        """``retune ARGS`` as a process of this stack, its output in ``logs/NAME.log``."""
        log = (self.logs / f"{name}.log").open("ab")
        self._files.append(log)
        process = subprocess.Popen(
            [_RETUNE, *args], stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=self.home
        )
        self._processes.append(process)
        return process

    def retune(
        self, *args: str, token: str | None = None, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``retune ARGS`` against this stack's server (``RETUNE_SERVER``) and wait for it."""
        env = {**self.env, "RETUNE_SERVER": self.url}
        if token is not None:
            env["RETUNE_API_TOKEN"] = token
        return subprocess.run(
            [_RETUNE, *args], capture_output=True, text=True, env=env, cwd=cwd or self.home, timeout=300
        )

    def register(
        self, path: Path, *, project: str, domain: str, version: str, token: str | None = None
    ) -> None:
        """``retune register PATH`` through the server; raises with its output if it fails."""
        done = self.retune(
            "register",
            str(path.resolve()),
            "--project",
            project,
            "--domain",
            domain,
            "--version",
            version,
            token=token,
        )
        if done.returncode != 0:
            raise RuntimeError(f"retune register failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")

    def stop(self) -> None:
        for process in self._processes:
            if process.poll() is None:
                process.terminate()
        for process in self._processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for file in self._files:
            file.close()
        self._processes, self._files = [], []

    def log_text(self, tail: int = 4000) -> str:
        """The end of every process's log, to attach to a failing test's message."""
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-tail:]}" for p in sorted(self.logs.glob("*.log"))
        )

    def _wait_healthy(self, server: subprocess.Popen[bytes]) -> None:
        import httpx

        deadline = time.monotonic() + self.start_timeout
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"retune serve exited with {server.returncode}:\n{self.log_text()}")
            try:
                if httpx.get(f"{self.url}/api/v1/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"retune serve did not answer within {self.start_timeout:.0f} s:\n{self.log_text()}"
                )
            time.sleep(0.1)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
