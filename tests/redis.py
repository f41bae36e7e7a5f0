"""A throwaway Redis server started from the installed binary, for the test-suite."""

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.pg import free_port

__all__ = ["RedisServer"]


class RedisServer:
    """redis-server on a free port, without persistence; killed and restarted at will."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(binary).exists():
            raise RuntimeError("redis-server not found: apt-get install redis-server "
                               "(the broker tests run against a real Redis)")
        self.binary = binary
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="dw-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, within: float = 10.0) -> "RedisServer":
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.root), "--logfile", str(self.root / "log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + within
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start: {self._log()}")
            time.sleep(0.02)
        return self

    def kill(self) -> None:
        """SIGKILL: gone at once, with every subscription and key (nothing is persisted)."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.root, ignore_errors=True)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def _log(self) -> str:
        path = self.root / "log"
        return path.read_text()[-2000:] if path.exists() else ""
