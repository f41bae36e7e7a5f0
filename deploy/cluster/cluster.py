"""`make cluster`: three dispatchwire nodes on one PostgreSQL and one Redis, behind nginx.

Everything runs from the installed binaries (Debian's postgresql, redis-server and nginx), with
its data and logs in a temporary folder that is removed on exit. Without nginx the nodes are
reached directly. For a laptop: the JWT secret is made up for the run and demo accounts exist.
"""

import argparse
import contextlib
import glob
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SITE = Path(__file__).parents[1] / "nginx" / "dispatchwire.conf"  # the site operators deploy
# What a site needs around it, with everything nginx writes kept in the cluster's folder.
NGINX_CONF = """\
{user}
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/nginx.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {root}/nginx-tmp;
  proxy_temp_path {root}/nginx-tmp;
  fastcgi_temp_path {root}/nginx-tmp;
  uwsgi_temp_path {root}/nginx-tmp;
  scgi_temp_path {root}/nginx-tmp;
  include {root}/dispatchwire.conf;
}}
"""
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # SIGHUP: the terminal closed


def site(*, port: int, nodes: list[int]) -> str:
    """deploy/nginx/dispatchwire.conf with this cluster's ports, and nothing else changed."""
    text = SITE.read_text()
    servers = "".join(f"    server 127.0.0.1:{node};\n" for node in nodes)
    text, upstreams = re.subn(r"(upstream dispatchwire \{\n).*?(\})", rf"\g<1>{servers}\g<2>",
                              text, flags=re.S)
    text, listens = re.subn(r"^(\s*)listen [^;]+;", rf"\g<1>listen 127.0.0.1:{port};", text,
                            flags=re.M)
    if (upstreams, listens) != (1, 1):
        sys.exit(f"make cluster: {SITE} needs one `upstream dispatchwire` and one `listen`")
    return text


class Cluster:
    def __init__(self, *, port: int, nodes: int) -> None:
        self.port, self.count = port, nodes
        self.root = Path(tempfile.mkdtemp(prefix="dispatchwire-cluster-"))
        self.pg_bin = _pg_bin()
        self.run_as = _unprivileged_user() if os.geteuid() == 0 else None
        self.processes: list[subprocess.Popen[bytes]] = []
        self.pg_port, self.redis_port = _free_port(), _free_port()

    def start(self) -> None:
        self._start_postgres()
        self._spawn("redis", ["redis-server", "--port", str(self.redis_port), "--bind",
                              "127.0.0.1", "--save", "", "--dir", str(self.root)])
        env = {**os.environ, "DISPATCHWIRE_DATABASE_URL":
               f"postgresql+asyncpg://postgres@127.0.0.1:{self.pg_port}/dispatchwire",
               "DISPATCHWIRE_BROKER_URL": f"redis://127.0.0.1:{self.redis_port}/0",
               "DISPATCHWIRE_JWT_SECRET": secrets.token_urlsafe(48)}
        for index in range(self.count):  # the first migrates and creates the demo accounts
            port = self.port + 1 + index
            self._spawn(f"node{index + 1}", [sys.executable, "-m", "dispatchwire", "serve",
                                             "--port", str(port), "--demo"], env=env)
            self._wait_for(f"node{index + 1}", port)
        if shutil.which("nginx"):
            self._start_nginx()

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._pg("pg_ctl", "-D", str(self.root / "pg" / "data"), "-m", "fast", "-w", "stop",
                 check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    def _start_postgres(self) -> None:
        pg = self.root / "pg"  # data, log and socket, owned by whoever runs PostgreSQL
        pg.mkdir()
        if self.run_as:  # PostgreSQL refuses to run as root
            os.chmod(self.root, 0o755)
            shutil.chown(pg, user=self.run_as)
        self._pg("initdb", "-D", str(pg / "data"), "-U", "postgres", "--auth=trust",
                 "-E", "UTF8", "--no-instructions")
        options = f"-p {self.pg_port} -k {pg} -c listen_addresses=127.0.0.1"
        self._pg("pg_ctl", "-D", str(pg / "data"), "-l", str(pg / "log"), "-o", options,
                 "-w", "start")
        self._pg("createdb", "-h", "127.0.0.1", "-p", str(self.pg_port), "-U", "postgres",
                 "dispatchwire")

    def _start_nginx(self) -> None:
        (self.root / "nginx-tmp").mkdir(mode=0o777)
        nodes = [self.port + 1 + i for i in range(self.count)]
        (self.root / "dispatchwire.conf").write_text(site(port=self.port, nodes=nodes))
        user = "user nobody nogroup;" if os.geteuid() == 0 else ""
        conf = self.root / "nginx.conf"
        conf.write_text(NGINX_CONF.format(user=user, root=self.root))
        self._spawn("nginx", ["nginx", "-p", str(self.root), "-c", str(conf),
                              "-g", "daemon off;"])
        self._wait_for("nginx", self.port)

    def _spawn(self, name: str, command: list[str], env: dict[str, str] | None = None) -> None:
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps it
        self.processes.append(subprocess.Popen(command, env=env, stdout=log,
                                               stderr=subprocess.STDOUT))

    def _wait_for(self, name: str, port: int, within: float = 60) -> None:
        """Until `name` listens on `port`; if it exits first, fail with the end of its log."""
        process, deadline = self.processes[-1], time.monotonic() + within
        while time.monotonic() < deadline and process.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        log = (self.root / f"{name}.log").read_text(errors="replace").strip().splitlines()
        raise RuntimeError(f"{name} did not start on port {port}:\n  " + "\n  ".join(log[-15:]))

    def _pg(self, tool: str, *args: str, check: bool = True) -> None:
        command = [str(self.pg_bin / tool), *args]
        if self.run_as:
            command = ["runuser", "-u", self.run_as, "--", *command]
        subprocess.run(command, check=check, capture_output=True, cwd=self.root)

    def describe(self) -> str:
        nodes = ", ".join(f"http://127.0.0.1:{self.port + 1 + i}" for i in range(self.count))
        front = (f"http://127.0.0.1:{self.port} (nginx, round robin over the nodes)"
                 if shutil.which("nginx") else "no nginx installed: use the nodes directly")
        return (f"dispatchwire cluster ready\n  connect to: {front}\n  nodes:      {nodes}\n"
                f"  PostgreSQL: 127.0.0.1:{self.pg_port}  Redis: 127.0.0.1:{self.redis_port}\n"
                f"  logs:       {self.root}\n  demo accounts as with `make run`; "
                "Ctrl-C stops everything and removes the folder")


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parent.parent.name))
    if not found:
        sys.exit("make cluster: PostgreSQL not found (apt-get install postgresql)")
    if not shutil.which("redis-server"):
        sys.exit("make cluster: redis-server not found (apt-get install redis-server)")
    return Path(found[-1]).parent


def _unprivileged_user() -> str:
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name).pw_name
        except KeyError:
            continue
    sys.exit("make cluster: running as root, and no postgres or nobody user to run PostgreSQL")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=3000,
                        help="nginx's port; the nodes take the next ones (default 3000)")
    parser.add_argument("--nodes", type=int, default=3)
    args = parser.parse_args()
    cluster = Cluster(port=args.port, nodes=args.nodes)
    for signum in STOP_SIGNALS:  # each, even when started in the background, stops it all
        signal.signal(signum, _stop)
    outcome = "stopped"
    try:
        cluster.start()
        print(cluster.describe(), flush=True)
        signal.pause()
    except Stopped as stopped:
        outcome = f"stopped by {stopped}"
    except RuntimeError as exc:  # a part did not start: its log's end says why
        outcome = f"failed: {exc}"
    finally:
        for signum in STOP_SIGNALS:  # the cleanup runs to its end: a second signal waits
            signal.signal(signum, signal.SIG_IGN)
        cluster.stop()
    with contextlib.suppress(OSError):  # after a hang-up there is no terminal to tell
        print(f"make cluster: {outcome}; everything it started is gone", flush=True)
    if outcome.startswith("failed"):
        sys.exit(1)


class Stopped(Exception):
    """A stop signal arrived."""


def _stop(signum: int, _frame: object) -> None:
    raise Stopped(signal.Signals(signum).name)


if __name__ == "__main__":
    main()
