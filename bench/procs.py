"""Processes and the machine: core pinning, CPU and memory readings from /proc, facts to report."""

import json
import os
import platform
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

__all__ = ["CpuGroup", "CpuMeter", "TreeCpuMeter", "load_average", "machine_facts", "pin_self",
           "pinned", "rss_bytes", "wait_for_quiet"]

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def pinned(command: list[str], core: int) -> list[str]:
    """`command` run on one core, where taskset exists and the machine has that core."""
    if shutil.which("taskset") and core < (os.cpu_count() or 1):
        return ["taskset", "-c", str(core), *command]
    return command


def pin_self(core: int) -> bool:
    """Move this process (the load generator) to one core; False where that is not possible."""
    if core >= (os.cpu_count() or 1) or not hasattr(os, "sched_setaffinity"):
        return False
    os.sched_setaffinity(0, {core})
    return True


def _cpu_ticks(pid: int) -> int:
    # /proc/PID/stat: the command may hold spaces, so count fields after its closing bracket.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def rss_bytes(pid: int) -> int:
    """Resident memory of a process now."""
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE


@dataclass
class CpuMeter:
    """CPU time a process used between `start()` and `percent()`, in % of one core."""

    pid: int
    _ticks: int = 0
    _wall: float = 0.0

    def start(self) -> "CpuMeter":
        self._ticks, self._wall = self._read(), time.monotonic()
        return self

    def percent(self) -> float:
        wall = time.monotonic() - self._wall
        used = (self._read() - self._ticks) / TICKS
        return round(100.0 * used / wall, 1) if wall > 0 else 0.0

    def _read(self) -> int:
        if self.pid == os.getpid():  # finer than /proc's ticks for the generator itself
            times = os.times()
            return round((times.user + times.system) * TICKS)
        return _cpu_ticks(self.pid)


class TreeCpuMeter(CpuMeter):
    """A process and its children (PostgreSQL's postmaster and backends): the CPU of the live
    children, and of those already reaped through the parent's cutime + cstime."""

    def _read(self) -> int:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        own = sum(int(x) for x in fields[11:15])  # utime, stime, cutime, cstime
        return own + _children_ticks(self.pid)


def _children_ticks(parent: int) -> int:
    """utime + stime of `parent`'s live children."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone since the listing
            continue
        if int(fields[1]) == parent:
            ticks += int(fields[11]) + int(fields[12])
    return ticks


@dataclass
class CpuGroup:
    """Several processes' CPU (a cluster's nodes) summed, in % of one core."""

    meters: list[CpuMeter]

    def start(self) -> "CpuGroup":
        for meter in self.meters:
            meter.start()
        return self

    def percent(self) -> float:
        return round(sum(meter.percent() for meter in self.meters), 1)


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def wait_for_quiet(limit: float, max_wait_s: float, say: Callable[[str], None]) -> list[float]:
    """Wait (up to `max_wait_s`) for the 1-minute load to fall below `limit`; the load then."""
    deadline = time.monotonic() + max_wait_s
    while os.getloadavg()[0] >= limit and time.monotonic() < deadline:
        say(f"waiting for a quieter machine: load {load_average()} (want < {limit})")
        time.sleep(15)
    return load_average()


def _command_version(command: list[str]) -> str:
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return "not found"
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) \
        else "unknown"


PYTHON_PACKAGES = ("uvicorn", "fastapi", "starlette", "sqlalchemy", "aiosqlite", "websockets",
                   "uvloop", "httptools", "orjson", "pydantic", "picows")
NODE_PACKAGES = ("express", "ws", "better-sqlite3", "jsonwebtoken")


def _versions(peer_dir: Path) -> dict[str, str]:
    """The versions of the stacks under test (and of the generator's picows)."""
    found: dict[str, str] = {"sqlite (python)": sqlite3.sqlite_version}
    for name in PYTHON_PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    for name in NODE_PACKAGES:
        package = peer_dir / "node_modules" / name / "package.json"
        found[f"{name} (node)"] = json.loads(package.read_text())["version"] \
            if package.exists() else "not installed"
    return found


def machine_facts(peer_dir: Path) -> dict[str, object]:
    """What the figures were measured on."""
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpu_model": model, "cores": os.cpu_count(), "memory_gib": round(mem_kib / 2**20, 1),
        "kernel": platform.release(), "python": platform.python_version(),
        "node": _command_version(["node", "--version"]),
        "redis": _command_version(["redis-server", "--version"]),
        "taskset": shutil.which("taskset") is not None, "versions": _versions(peer_dir),
    }
