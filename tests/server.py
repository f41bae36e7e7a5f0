"""A real `dispatchwire serve` process on a free port, for tests that need one."""

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.pg import free_port

__all__ = ["ServerProcess"]


class ServerProcess:
    def __init__(self, *, database_url: str, env: dict[str, str] | None = None,
                 args: tuple[str, ...] = (), port: int | None = None,
                 log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.env = {**os.environ, "DISPATCHWIRE_DATABASE_URL": database_url,
                     "DISPATCHWIRE_PORT": str(self.port), "DISPATCHWIRE_HOST": "127.0.0.1",
                     **(env or {})}
        self._args = args
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, within: float = 30.0) -> "ServerProcess":
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dispatchwire", "serve", *self._args],
            env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"server did not answer within {within} s")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as when a machine dies."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> "ServerProcess":
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
