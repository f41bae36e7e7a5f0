"""A throwaway PostgreSQL server started from the installed binaries, for the test-suite.

PostgreSQL refuses to run as root, so under root (as in CI) the server runs as the `postgres`
system user (or `nobody`), which owns the temporary data folder.
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PostgresServer", "find_pg_bin", "free_port"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def find_pg_bin() -> Path:
    """The newest `/usr/lib/postgresql/*/bin` holding initdb, or the one on PATH."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                        key=lambda p: int(Path(p).parent.parent.name))
    if candidates:
        return Path(candidates[-1]).parent
    if found := shutil.which("initdb"):
        return Path(found).resolve().parent
    raise RuntimeError("PostgreSQL server binaries not found: apt-get install postgresql "
                       "(the tests run against a real PostgreSQL)")


@dataclass
class PostgresServer:
    port: int
    root: Path
    bin: Path
    run_as: str | None
    durable: bool = False  # PostgreSQL's own defaults (fsync, synchronous commit): benchmarks

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    @classmethod
    def start(cls, *, durable: bool = False) -> "PostgresServer":
        run_as = _unprivileged_user() if os.geteuid() == 0 else None
        root = Path(tempfile.mkdtemp(prefix="dw-pg-"))
        server = cls(port=free_port(), root=root, bin=find_pg_bin(), run_as=run_as,
                     durable=durable)
        if run_as:
            os.chmod(root, 0o755)
            shutil.chown(root, user=run_as)
        server._run("initdb", "-D", str(root / "data"), "-U", "postgres", "--auth=trust",
                    "-E", "UTF8", "--no-sync", "--no-instructions")
        server.start_again()
        return server

    def start_again(self) -> None:
        """Start the server on its data folder and port (first, or after `kill`/`shut_down`)."""
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                   "-c max_connections=300")
        if not self.durable:  # a test's data need not survive a crash of the machine
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(self.root / "data"), "-l", str(self.root / "log"),
                  "-o", options, "-w", "-t", "60", "start")

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def kill(self) -> None:
        """Stop at once, like a crash."""
        self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop")

    def shut_down(self) -> None:
        """Stop as an operator does (`pg_ctl stop`, fast mode): open sessions are ended, their
        transactions rolled back, and new connections refused until `start_again`."""
        self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "fast", "-w", "stop")

    @property
    def pid(self) -> int:
        """The postmaster's process id (its backends are its children)."""
        return int((self.root / "data" / "postmaster.pid").read_text().split()[0])

    def sql(self, statement: str) -> None:
        """Run one statement as the superuser, through psql."""
        self._run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                  "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-qc", statement)

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin / tool), *args]
        if self.run_as:
            command = ["runuser", "-u", self.run_as, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, cwd=self.root)
        if result.returncode != 0:
            log = (self.root / "log").read_text() if (self.root / "log").exists() else ""
            raise RuntimeError(f"{tool} failed ({result.returncode}): {result.stderr}\n{log}")


def _unprivileged_user() -> str:
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError("running as root, and neither a postgres nor a nobody user exists")
