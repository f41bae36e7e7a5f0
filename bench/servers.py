"""Starting and stopping the servers under test (pinned to core 0) and the Redis trigger."""

import asyncio
import atexit
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from bench.procs import pinned
from bench.seed import PEER_DIR, REPO

__all__ = ["REPO", "DispatchwireServer", "PeerServer", "RedisServer", "Server",
           "dispatchwire_env", "free_port"]

SERVER_CORE = 0
HELPER_CORE = 1  # the generator's core: Redis only relays the delivery trigger
READY_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _http_ok(port: int, path: str) -> bool:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 1.0)
    except (OSError, TimeoutError):
        return False
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
        line = await asyncio.wait_for(reader.readline(), 5.0)
        return line.startswith(b"HTTP/1.1 200")
    except (OSError, TimeoutError):
        return False
    finally:
        writer.close()


_started: list["subprocess.Popen[bytes]"] = []


@atexit.register
def _kill_leftovers() -> None:
    """Whatever way the run ends, no server it started outlives it."""
    for proc in _started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _spawn(command: list[str], core: int, log_path: Path, *, cwd: Path | None = None,
           env: dict[str, str] | None = None) -> "subprocess.Popen[bytes]":
    """Start `command` pinned to `core`, its output appended to `log_path`."""
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(pinned(command, core), cwd=cwd,
                                env={**os.environ, **(env or {})}, stdout=log,
                                stderr=subprocess.STDOUT)
    _started.append(proc)
    return proc


class Server:
    """One server process: started pinned, ready when `GET /health` answers 200."""

    name = "server"

    def __init__(self, *, port: int, env: dict[str, str], log_path: Path) -> None:
        self.port = port
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def command(self) -> list[str]:
        raise NotImplementedError

    def cwd(self) -> Path | None:
        return None

    async def start(self) -> float:
        """Start the process; seconds until it answered its health check."""
        started = time.monotonic()
        self.proc = _spawn(self.command(), SERVER_CORE, self.log_path, cwd=self.cwd(),
                           env=self.env)
        while not await _http_ok(self.port, "/health"):
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; "
                                   f"see {self.log_path}")
            if time.monotonic() - started > READY_TIMEOUT_S:
                raise RuntimeError(f"{self.name} not ready after {READY_TIMEOUT_S:.0f} s")
            await asyncio.sleep(0.05)
        return time.monotonic() - started

    async def stop(self, timeout_s: float = 30.0) -> float:
        """SIGTERM (a graceful restart), SIGKILL after `timeout_s`; seconds until it exited."""
        if self.proc is None or self.proc.poll() is not None:
            return 0.0
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        while self.proc.poll() is None:
            if time.monotonic() - started > timeout_s:
                self.proc.kill()
            await asyncio.sleep(0.02)
        return time.monotonic() - started

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def dispatchwire_env(database: Path | str, secret: str, source: Path | None) -> dict[str, str]:
    """The settings of a benchmark's dispatchwire: an SQLite file, or a database URL;
    `source` replaces the installed src/."""
    url = database if isinstance(database, str) else f"sqlite:///{database}"
    env = {"DISPATCHWIRE_DATABASE_URL": url,
           "DISPATCHWIRE_JWT_SECRET": secret}
    if source is not None:
        env["PYTHONPATH"] = str(source)
    return env


class DispatchwireServer(Server):
    """`dispatchwire serve` on its defaults, through bench.server_probe (GC timing, and when
    profiling, SQL statement counts)."""

    name = "dispatchwire"

    def __init__(self, *, port: int, database: Path | str, secret: str, broker_url: str,
                 log_path: Path, source: Path | None, gc_log: Path,
                 sql_log: Path | None = None, settings: dict[str, str] | None = None) -> None:
        """`settings`: DISPATCHWIRE_* variables beside the defaults (a scenario's own)."""
        super().__init__(port=port, log_path=log_path, env={
            **dispatchwire_env(database, secret, source), "DISPATCHWIRE_HOST": "127.0.0.1",
            "DISPATCHWIRE_PORT": str(port), "DISPATCHWIRE_BROKER_URL": broker_url,
            "BENCH_GC_LOG": str(gc_log), **({"BENCH_SQL_LOG": str(sql_log)} if sql_log else {}),
            **(settings or {})})

    def command(self) -> list[str]:
        return [sys.executable, "-m", "bench.server_probe", "serve"]

    def cwd(self) -> Path:
        return REPO  # where `bench` is importable


class PeerServer(Server):
    name = "peer"

    def __init__(self, *, port: int, database: Path, secret: str, redis_url: str | None,
                 log_path: Path) -> None:
        env = {"HOST": "127.0.0.1", "PORT": str(port), "DATABASE": str(database),
               "JWT_SECRET": secret}
        if redis_url:
            env["BENCH_REDIS_URL"] = redis_url
        super().__init__(port=port, env=env, log_path=log_path)

    def command(self) -> list[str]:
        return ["node", "server.js"]

    def cwd(self) -> Path:
        return PEER_DIR


class RedisServer:
    """A private, memory-only redis-server on the generator's core, for the delivery trigger."""

    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self.proc = _spawn(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                            "--save", "", "--appendonly", "no"], HELPER_CORE, self.log_path)
        for _ in range(200):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            except OSError:
                await asyncio.sleep(0.05)
        raise RuntimeError(f"redis-server did not start; see {self.log_path}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
