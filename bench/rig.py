"""Everything a scenario drives for one system: its server, the masters, the client pool."""

import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.canary import Canary
from bench.fleet import Fleet
from bench.hostspeed import HostProbe
from bench.httppool import HttpPool, SpreadPool
from bench.options import Options
from bench.procs import CpuGroup, CpuMeter
from bench.seed import Plan
from bench.servers import Server

__all__ = ["Meters", "Rig"]


@dataclass
class Rig:
    system: str  # "dispatchwire" or "peer"
    options: Options
    plan: Plan
    database: Path
    server: Server
    fleet: Fleet
    pool: HttpPool | SpreadPool
    canary: Canary
    client_tokens: list[str] = field(default_factory=list)
    source: Path | None = None  # dispatchwire's src/ when not the installed one (--ref)
    gc_log: Path | None = None  # dispatchwire's GC timings (bench/server_probe.py)
    next_seq: int = 1  # order numbers run on across steps and scenarios
    delivery_order: int | None = None  # the order the delivery scenario's offers name
    # the masters the delivery steps send to (empty: all); those left out never went live
    delivery_targets: list[int] = field(default_factory=list)
    sql_per_message: list[tuple[str, float]] = field(default_factory=list)  # when profiling
    host: HostProbe = field(default_factory=HostProbe)  # the host's speed, per step
    fanout: int = 1  # offers the server makes at once per order (the fanout scenario's K)

    def offers_by_id(self, assignment_ids: list[int]) -> dict[int, int]:
        """assignment id -> master id, as the server stored them (read-only, beside it)."""
        found: dict[int, int] = {}
        with sqlite3.connect(f"file:{self.database}?mode=ro", uri=True) as conn:
            for start in range(0, len(assignment_ids), 500):
                chunk = assignment_ids[start:start + 500]
                marks = ",".join("?" * len(chunk))
                found.update(conn.execute(
                    f"SELECT id, master_id FROM assignments WHERE id IN ({marks})", chunk))
        conn.close()
        return found

    def meters(self) -> "Meters":
        """Start measuring the server's and the generator's CPU, and the canary's stalls."""
        self.canary.window()
        self.host.window()
        return Meters(self.server_meter().start(), CpuMeter(os.getpid()).start(),
                      time.time(),
                      {name: meter.start() for name, meter in self.more_meters().items()})

    def server_meter(self) -> CpuMeter | CpuGroup:
        """The CPU a step reports as the server's."""
        return CpuMeter(self.server.pid)

    def more_meters(self) -> dict[str, CpuMeter | CpuGroup]:
        """Other processes whose CPU a step reports apart (a cluster's nodes, PostgreSQL)."""
        return {}

    def gc_pauses(self, meters: "Meters") -> dict[str, float | int | None]:
        """The server's longest GC pause (ms) and its full collections since `meters`."""
        if self.gc_log is None or not self.gc_log.exists():
            return {"gc_max_ms": None, "gc_full": None}
        longest, full = 0.0, 0
        for line in self.gc_log.read_text().splitlines():
            when, generation, ms = line.split()
            if float(when) >= meters.since:
                longest = max(longest, float(ms))
                full += generation == "2"
        return {"gc_max_ms": longest, "gc_full": full}

    def gc_generations(self, meters: "Meters") -> dict[str, dict[str, float]]:
        """Per generation, the server's collections since `meters`: how many, their total and
        the longest pause (ms), to the quarter of a second (bench/server_probe.py)."""
        path = self.gc_log.with_name(self.gc_log.name + ".generations") if self.gc_log else None
        if path is None or not path.exists():
            return {}
        found = {gen: {"count": 0, "total_ms": 0.0, "max_ms": 0.0} for gen in "012"}
        for line in path.read_text().splitlines():
            when, generation, count, total, longest = line.split()
            if float(when) >= meters.since:
                mine = found[generation]
                mine["count"] += int(count)
                mine["total_ms"] = round(mine["total_ms"] + float(total), 2)
                mine["max_ms"] = max(mine["max_ms"], float(longest))
        return found


@dataclass
class Meters:
    server: CpuMeter | CpuGroup
    generator: CpuMeter
    since: float  # wall clock, to match the GC log
    more: dict[str, CpuMeter | CpuGroup] = field(default_factory=dict)
