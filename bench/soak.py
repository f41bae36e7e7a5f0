"""`python -m bench.soak` (`make soak`): hours of ordinary traffic, to find what only time shows.

One dispatchwire process on its default set-up (SQLite, the in-memory broker), pinned to core
0 as the benchmark's is, with its event retention set short so that it deletes all along
(`--retention-s`, 120) and offers running out in `--assignment-timeout-s` (15). On core 1 the
generator: 10,000 masters that ack like the apps and resume after every drop (5% of them are
dropped, without a close frame, every minute, and come back 0.5-3 s later), 100 clients
placing orders at a steady rate, offers accepted (then worked to `completed`), declined or
left to expire; and the canary, a socket pinging every 10 ms, whose late pongs are the
server's event-loop lag.

Every minute (and at the start): the server's RSS, open files, CPU, longest loop lag and GC
pause, the database's size and its events' row count and oldest age, and the traffic so far.
At the end the load stops, everything still under way settles, and the books are closed:
every offer the database holds reached its master's socket, every master's events came in
order with no gap and none twice, every resume was `recovered: true`, every order completed,
no request failed, no error in the server's log. bench/results/soak.json holds the samples and
the verdict, soak.md the table, soak.png the plots; docs/reliability.md the findings.
"""

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import sqlite3
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvloop

from bench.canary import Canary
from bench.httppool import HttpPool
from bench.options import RESULTS
from bench.procs import CpuMeter, load_average, machine_facts, pin_self, rss_bytes, wait_for_quiet
from bench.seed import PEER_DIR, Plan, seed_dispatchwire
from bench.servers import HELPER_CORE, DispatchwireServer, dispatchwire_env, free_port
from bench.soak_fleet import SoakFleet
from bench.soak_load import Answers, Load
from bench.soak_report import write_soak_reports

__all__ = ["SoakOptions", "main"]

SETTLE_S = 180.0  # after the load stops: for answers, jobs and expiries still under way


@dataclass
class SoakOptions:
    minutes: float = 20.0
    masters: int = 10_000
    clients: int = 100
    order_rate: float = 20.0
    churn: float = 0.05  # of the masters dropped and resumed every minute
    retention_s: float = 120.0
    assignment_timeout_s: float = 15.0
    sample_s: float = 60.0
    accept: float = 0.6
    decline: float = 0.25
    wait_quiet_s: float = 60.0
    trace_memory: bool = False  # the server's Python heap by source line (slower)
    gc_young_every: float = 0.0  # an experiment: the server collects its young objects so often
    gc_sizes: bool = False  # the GC log says how many objects each slow collection examined
    out: Path = RESULTS


def parse_options(argv: list[str] | None = None) -> SoakOptions:
    defaults = SoakOptions()
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split(
        "\n")[0])
    for name, value in asdict(defaults).items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            parser.add_argument(flag, action="store_true")
        else:
            parser.add_argument(flag, type=type(value), default=value, help=f"default {value}")
    return SoakOptions(**vars(parser.parse_args(argv)))


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


class Soak:
    """The server, the masters, the load and the canary of one run, and its samples."""

    def __init__(self, options: SoakOptions, workdir: Path) -> None:
        self.options = options
        self.plan = Plan(masters=options.masters, clients=options.clients,
                         secret=secrets.token_urlsafe(48))
        self.database = workdir / "soak.db"
        self.port = free_port()
        self.gc_log = workdir / "gc.log"
        self.server = DispatchwireServer(
            port=self.port, database=self.database, secret=self.plan.secret,
            broker_url="memory://", log_path=workdir / "server.log", source=None,
            gc_log=self.gc_log)
        self.server.env.update({
            "DISPATCHWIRE_EVENT_RETENTION_S": str(options.retention_s),
            "DISPATCHWIRE_ASSIGNMENT_TIMEOUT_S": str(options.assignment_timeout_s)})
        if options.gc_young_every > 0:
            self.server.env["BENCH_GC_YOUNG_EVERY_S"] = str(options.gc_young_every)
        if options.gc_sizes:
            self.server.env["BENCH_GC_SIZES"] = "1"
        if options.trace_memory:
            self.server.env["BENCH_TRACEMALLOC"] = str(workdir / "tracemalloc.log")
        url = f"ws://127.0.0.1:{self.port}/ws"
        self.pool = HttpPool(self.port, 16)
        plan = self.plan
        self.load = Load(self.pool, rate=options.order_rate,
                         answers=Answers(options.accept, options.decline),
                         client_tokens=[plan.token(plan.client_user(i), "client")
                                        for i in range(plan.clients)],
                         master_tokens=[plan.token(plan.master_user(i), "master")
                                        for i in range(plan.masters)],
                         locate=lambda index, frame: self.fleet.send(index, frame))
        self.fleet = SoakFleet(url, plan.masters,
                               lambda i: plan.token(plan.master_user(i), "master"),
                               self.load.on_offer)
        self.canary = Canary(url, plan.token(plan.canary_user, "client"))
        self.samples: list[dict[str, Any]] = []
        # (t_s, the canary's longest delay in that second, ms the server waited for its core)
        self.lag: list[tuple[float, float, float]] = []
        self._lag_watch: asyncio.Task[None] | None = None
        self._started = 0.0
        self._gc_seen = 0.0
        self._waited_ms = 0.0

    async def run(self) -> dict[str, Any]:
        await asyncio.to_thread(seed_dispatchwire, self.database, self.plan,
                                dispatchwire_env(self.database, self.plan.secret, None))
        ready = await self.server.start()
        say(f"server ready in {ready:.1f} s (pid {self.server.pid}, port {self.port})")
        try:
            self.pool.start()
            await self.canary.start()
            connect_s = await self.fleet.connect_all(concurrency=500, timeout_s=600)
            say(f"{self.options.masters} masters subscribed in {connect_s:.1f} s")
            self.fleet.start_pinging()
            await self._soak()
            settled = await self._settle()
            return {"connect_s": round(connect_s, 1), "settled": settled,
                    "samples": self.samples, "lag_per_s": self.lag,
                    "gc_pauses": self._gc_pauses(), "books": self._close_books(),
                    "server_log": _log_problems(self.server.log_path)}
        finally:
            if self._lag_watch is not None:
                self._lag_watch.cancel()
            await self.load.close()
            await self.fleet.close()
            await self.canary.stop()
            await self.pool.close()
            await self.server.stop(10.0)
            self.server.kill()

    async def _soak(self) -> None:
        self._started = time.monotonic()
        self._gc_seen = time.time()
        self.canary.window()
        self._waited_ms = _runqueue_wait_ms(self.server.pid)
        self._lag_watch = asyncio.create_task(self._watch_lag())
        self.load.start()
        self.fleet.churn(self.options.churn)
        duration = self.options.minutes * 60
        self._sample(None)
        while (elapsed := time.monotonic() - self._started) < duration:
            meter = CpuMeter(self.server.pid).start()
            await asyncio.sleep(min(self.options.sample_s, duration - elapsed))
            sample = self._sample(meter)
            say(f"t={sample['t_s'] / 60:5.1f} min  RSS {sample['rss_mib']} MiB  fds "
                f"{sample['fds']}  lag {sample['lag_ms']} ms (waited for the core "
                f"{sample['runqueue_wait_ms']} ms)  events {sample['event_rows']:,}"
                f" rows  db {sample['db_mib']} MiB  cpu {sample['cpu_pct']}%  live "
                f"{sample['live_masters']:,}  gaps {sample['gaps']}")

    async def _watch_lag(self) -> None:
        """The canary's longest delay of every second (the minute's samples take their
        maximum)."""
        waited = _runqueue_wait_ms(self.server.pid)
        while True:
            await asyncio.sleep(1.0)
            before, waited = waited, _runqueue_wait_ms(self.server.pid)
            self.lag.append((round(time.monotonic() - self._started, 1), self.canary.window(),
                             round(waited - before, 1)))

    async def _settle(self) -> bool:
        """Stop the load; wait until the masters are back and no order is under way."""
        if self._lag_watch is not None:
            self._lag_watch.cancel()
        self.load.stop_placing()
        self.fleet.stop_churn()
        deadline = time.monotonic() + SETTLE_S
        while time.monotonic() < deadline:
            await asyncio.sleep(1.0)
            if self.fleet.live_count == self.options.masters and not self.load.busy \
                    and self._open_orders() == 0:
                return True
        say("the last orders did not settle in time")
        return False

    def _sample(self, meter: CpuMeter | None) -> dict[str, Any]:
        pid = self.server.pid
        rows, oldest = self._events()
        gc_max, gc_full = self._gc_since()
        fleet, load = self.fleet.counts, self.load.counts
        now = round(time.monotonic() - self._started, 1)
        previous = self.samples[-1]["t_s"] if self.samples else 0.0
        lags = [ms for t, ms, _ in self.lag if previous < t <= now] or [0.0]
        waited, self._waited_ms = self._waited_ms, _runqueue_wait_ms(pid)
        sample = {
            "t_s": now, "rss_mib": round(rss_bytes(pid) / 2**20, 1),
            "fds": len(os.listdir(f"/proc/{pid}/fd")),
            "lag_ms": max(lags), "seconds_over_50ms": sum(ms > 50 for ms in lags),
            "cpu_pct": meter.percent() if meter else None,
            # Time the server was ready to run but another process had the core.
            "runqueue_wait_ms": round(self._waited_ms - waited),
            "gc_max_ms": gc_max, "gc_full": gc_full,
            "db_mib": round(_size(self.database) / 2**20, 2),
            "wal_mib": round(_size(self.database.with_name(self.database.name + "-wal"))
                             / 2**20, 2),
            "event_rows": rows, "oldest_event_s": oldest,
            "orders": load["orders"], "accepted": load["accepted"],
            "completed": load["completed"], "declined": load["declined"],
            "ignored": load["ignored"], "http_errors": self.load.errors,
            "offers": fleet["offers"], "events": fleet["events"], "acks": fleet["acks"],
            "churned": fleet["churned"], "reconnects": fleet["reconnects"],
            "live_masters": self.fleet.live_count, "gaps": fleet["gaps"],
            "duplicates": fleet["duplicates"], "not_recovered": fleet["not_recovered"],
            "dropped_by_server": fleet["dropped_by_server"],
        }
        self.samples.append(sample)
        return sample

    def _gc_since(self) -> tuple[float, int]:
        longest, full = 0.0, 0
        if self.gc_log.exists():
            for line in self.gc_log.read_text().splitlines():
                when, generation, ms = line.split()[:3]
                if float(when) >= self._gc_seen:
                    longest, full = max(longest, float(ms)), full + (generation == "2")
        self._gc_seen = time.time()
        return longest, full

    def _gc_pauses(self) -> list[tuple[float, int, float]]:
        """Every full collection and every pause of 5 ms or more: (t_s, generation, ms)."""
        if not self.gc_log.exists():
            return []
        offset = time.time() - (time.monotonic() - self._started)  # the soak's t = 0
        pauses = []
        for line in self.gc_log.read_text().splitlines():
            when, generation, ms = line.split()[:3]
            if float(when) >= offset:
                pauses.append((round(float(when) - offset, 1), int(generation), float(ms)))
        return pauses

    def _query(self, sql: str) -> list[tuple[Any, ...]]:
        with contextlib.closing(sqlite3.connect(f"file:{self.database}?mode=ro", uri=True,
                                                timeout=10)) as conn:
            return conn.execute(sql).fetchall()

    def _events(self) -> tuple[int, float | None]:
        (rows, oldest), = self._query("SELECT count(*), min(created_at) FROM events")
        age = None if oldest is None else round(
            (datetime.now(UTC) - datetime.fromisoformat(oldest).replace(tzinfo=UTC))
            .total_seconds(), 1)
        return rows, age

    def _open_orders(self) -> int:
        (count,), = self._query("SELECT count(*) FROM orders WHERE status IN"
                                " ('new', 'assigned', 'in_progress')")
        return int(count)

    def _close_books(self) -> dict[str, Any]:
        """What was lost: offers that never reached their master, broken streams, orders left
        behind, failed requests."""
        offers = self._query("SELECT id, master_id FROM assignments")
        missing = [offer_id for offer_id, master_id in offers
                   if offer_id not in self.fleet.offers[master_id - 1]]
        statuses = dict(self._query("SELECT status, count(*) FROM orders GROUP BY status"))
        fleet = self.fleet.counts
        return {
            "offers_made": len(offers), "offers_not_received": len(missing),
            "orders_placed": len(self.load.order_ids), "orders_by_status": statuses,
            "orders_unfinished": sum(n for status, n in statuses.items()
                                     if status not in ("completed", "cancelled")),
            "event_gaps": fleet["gaps"], "events_skipped": fleet["events_skipped"],
            "event_duplicates": fleet["duplicates"], "not_recovered": fleet["not_recovered"],
            "resumes": fleet["resumes"], "http_errors": self.load.errors,
            "chat_messages": self._query("SELECT count(*) FROM chat_messages")[0][0],
            "locations_sent": self.load.counts["locations"],
            "http_statuses": dict(self.load.statuses), "socket_errors": dict(self.fleet.errors),
            "load": dict(self.load.counts), "fleet": dict(fleet),
        }


def _runqueue_wait_ms(pid: int) -> float:
    """How long the process's main thread has waited for a core, in all (/proc schedstat)."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e6


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _log_problems(path: Path) -> dict[str, Any]:
    """ERROR lines and tracebacks in the server's log (none expected)."""
    lines = path.read_text(errors="replace").splitlines() if path.exists() else []
    bad = [line for line in lines if " ERROR " in line or "Traceback" in line]
    return {"lines": len(lines), "errors": len(bad), "first_errors": bad[:5]}


async def _run(options: SoakOptions) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="dispatchwire-soak-") as tmp:
        soak = Soak(options, Path(tmp))
        try:
            return await soak.run()
        finally:
            raw = options.out / "raw"
            raw.mkdir(parents=True, exist_ok=True)
            for name in ("server.log", "gc.log", "tracemalloc.log"):  # kept for a look after
                if (Path(tmp) / name).exists():
                    (raw / f"soak-{name}").write_bytes((Path(tmp) / name).read_bytes())


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    options = parse_options(argv)
    signal.signal(signal.SIGTERM, _interrupt)  # like Ctrl-C: the server is stopped too
    load_before = wait_for_quiet(0.7, options.wait_quiet_s, say) \
        if options.wait_quiet_s > 0 else load_average()
    pinned = pin_self(HELPER_CORE)
    say(f"soak: {options.minutes:g} min, {options.masters:,} masters, {options.order_rate:g}"
        f" orders/s, {options.churn:.0%} of the masters resuming every minute, retention "
        f"{options.retention_s:g} s; load {load_before}")
    started = time.monotonic()
    results = uvloop.run(_run(options))
    results.update(generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
                   duration_s=round(time.monotonic() - started, 1),
                   options={k: str(v) if isinstance(v, Path) else v
                            for k, v in asdict(options).items()},
                   machine=machine_facts(PEER_DIR), load_before=load_before,
                   load_after=load_average(), generator_pinned=pinned)
    write_soak_reports(results, options.out, say)


if __name__ == "__main__":
    main()
