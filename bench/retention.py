"""`python -m bench.retention`: how long writers wait while retention deletes a large backlog.

A database (SQLite by default; `--postgres` starts a throwaway PostgreSQL) gets `--backlog`
(200,000) stored events older than the retention, spread over 1,000 users, and a few fresh
ones. Then, in this process, with the server's own code (`open_context`, the outbox,
`events.retention.delete_expired_events`): a writer stores one event every `--every-ms` (2),
each its own write transaction through the outbox, as a status change does, and a ticker
measures the event loop's lag every millisecond. First for `--baseline-s` (3) with nothing
else; then while the whole backlog is deleted. Reported, for each batch size in `--batches`
(500, the default, and others to compare): the writers' waits (from asking for the
transaction to its commit) before and during the deletion, the loop's longest lag, the
longest batch, and how fast the backlog went. Results: bench/results/retention.json, and
docs/reliability.md for the figures.
"""

import argparse
import asyncio
import contextlib
import json
import secrets
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.options import RESULTS
from bench.procs import load_average, machine_facts
from bench.seed import PEER_DIR
from bench.stats import summarize
from dispatchwire.clock import utcnow
from dispatchwire.context import Context, open_context
from dispatchwire.events import retention
from dispatchwire.settings import Settings

USERS = 1000
RETENTION_S = 3600.0
SEED_CHUNK = 20_000


async def seed(ctx: Context, backlog: int) -> None:
    """`backlog` events two retentions old, then one fresh event per user."""
    old = utcnow() - timedelta(seconds=2 * RETENTION_S)
    async with ctx.db.transaction() as uow:
        await uow.sql.run_many(
            "INSERT INTO users (email, password_hash, name, role, created_at, last_event_id)"
            " VALUES (:email, '!', :name, 'client', :now, 0)",
            ({"email": f"r{i}@bench.example", "name": f"R {i}", "now": uow.sql.time(old)}
             for i in range(USERS)))
        user_ids = [row[0] for row in await uow.sql.rows("SELECT id FROM users ORDER BY id")]
    per_user = backlog // len(user_ids)
    for start in range(0, per_user, max(1, SEED_CHUNK // len(user_ids))):
        count = min(SEED_CHUNK // len(user_ids), per_user - start)
        async with ctx.db.transaction() as uow:
            await uow.sql.run_many(
                "INSERT INTO events (user_id, event_id, type, payload, created_at)"
                " VALUES (:user_id, :event_id, 'order_status_update', :payload, :at)",
                ({"user_id": user_id, "event_id": start + k + 1, "at": uow.sql.time(old),
                  "payload": '{"orderId": 1, "status": "assigned"}'}
                 for k in range(count) for user_id in user_ids))
    async with ctx.db.transaction() as uow:
        await uow.sql.rows("UPDATE users SET last_event_id = :n", {"n": per_user})
    async with ctx.db.transaction() as uow:  # fresh ones, through the outbox
        for user_id in user_ids:
            ctx.outbox.emit(uow, user_id, "order_status_update", {"orderId": 1,
                                                                  "status": "completed"})


class Probes:
    """A writer every `every_s` and a 1 ms ticker; their figures by phase."""

    def __init__(self, ctx: Context, every_s: float) -> None:
        self.ctx, self.every_s = ctx, every_s
        self.phase = "baseline"
        self.waits: dict[str, list[float]] = {"baseline": [], "deleting": []}
        self.lag: dict[str, float] = {"baseline": 0.0, "deleting": 0.0}
        self._tasks: list[asyncio.Task[None]] = []
        self._writes: set[asyncio.Task[None]] = set()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator["Probes"]:
        self._tasks = [asyncio.create_task(self._write_forever()),
                       asyncio.create_task(self._tick_forever())]
        try:
            yield self
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, *self._writes, return_exceptions=True)

    async def _write_forever(self) -> None:
        n = 0
        while True:
            n += 1
            task = asyncio.create_task(self._write(1 + n % USERS))
            self._writes.add(task)
            task.add_done_callback(self._writes.discard)
            await asyncio.sleep(self.every_s)

    async def _write(self, user_id: int) -> None:
        phase, started = self.phase, time.perf_counter()
        async with self.ctx.db.transaction() as uow:
            self.ctx.outbox.emit(uow, user_id, "order_status_update",
                                 {"orderId": 1, "status": "in_progress"})
        self.waits[phase].append(time.perf_counter() - started)

    async def _tick_forever(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.001)
            late = (time.perf_counter() - before - 0.001) * 1000
            self.lag[self.phase] = max(self.lag[self.phase], late)


async def measure(url: str, *, backlog: int, batch: int, every_s: float, baseline_s: float
                  ) -> dict[str, Any]:
    settings = Settings(database_url=url, jwt_secret=secrets.token_urlsafe(48),
                        event_retention_s=RETENTION_S)
    async with open_context(settings) as ctx:
        await seed(ctx, backlog)
        longest, cpu = [0.0], [0.0]  # the longest batch: wall clock, and this process's CPU
        original = retention._delete_batch

        async def timed(*args: Any, **kwargs: Any) -> Any:
            started, used = time.perf_counter(), time.process_time()
            try:
                return await original(*args, **kwargs)
            finally:
                longest[0] = max(longest[0], (time.perf_counter() - started) * 1000)
                cpu[0] = max(cpu[0], (time.process_time() - used) * 1000)

        retention._delete_batch = timed  # type: ignore[assignment]
        try:
            async with Probes(ctx, every_s).running() as probes:
                waited = _core_wait_ms()
                await asyncio.sleep(baseline_s)
                probes.phase = "deleting"
                waited_before, waited = _core_wait_ms() - waited, _core_wait_ms()
                started = time.perf_counter()
                deleted = await retention.delete_expired_events(ctx, batch=batch)
                seconds = time.perf_counter() - started
                waited_during = _core_wait_ms() - waited
        finally:
            retention._delete_batch = original  # type: ignore[assignment]
        async with ctx.db.read() as sql:
            left = await sql.scalar("SELECT count(*) FROM events")
    return {"batch": batch, "deleted": deleted, "left": left, "seconds": round(seconds, 2),
            "per_s": round(deleted / seconds), "longest_batch_ms": round(longest[0], 2),
            "longest_batch_cpu_ms": round(cpu[0], 2),
            # time this process was ready to run while another had the core (a busy machine)
            "core_wait_ms": {"baseline": round(waited_before), "deleting": round(waited_during)},
            "writes": {phase: summarize(waits) for phase, waits in probes.waits.items()},
            "loop_lag_max_ms": {phase: round(ms, 2) for phase, ms in probes.lag.items()}}


def _core_wait_ms() -> float:
    """How long this process's main thread has waited for a core, in all (/proc schedstat)."""
    return int(Path("/proc/self/schedstat").read_text().split()[1]) / 1e6


async def run(options: argparse.Namespace) -> list[dict[str, Any]]:
    results = []
    for batch in options.batches:
        with tempfile.TemporaryDirectory(prefix="dispatchwire-retention-") as tmp:
            if options.postgres:
                from tests.pg import PostgresServer

                server = await asyncio.to_thread(PostgresServer.start)
                try:
                    await asyncio.to_thread(server.sql, "CREATE DATABASE retention")
                    url = server.url("retention")
                    result = await measure(url, backlog=options.backlog, batch=batch,
                                           every_s=options.every_ms / 1000,
                                           baseline_s=options.baseline_s)
                finally:
                    await asyncio.to_thread(server.stop)
            else:
                result = await measure(f"sqlite:///{tmp}/retention.db", backlog=options.backlog,
                                       batch=batch, every_s=options.every_ms / 1000,
                                       baseline_s=options.baseline_s)
        result["database"] = "postgresql" if options.postgres else "sqlite"
        print(_line(result), flush=True)
        results.append(result)
    return results


def _line(r: dict[str, Any]) -> str:
    base, during = r["writes"]["baseline"], r["writes"]["deleting"]
    return (f"{r['database']} batch {r['batch']}: {r['deleted']:,} deleted in {r['seconds']} s "
            f"({r['per_s']:,}/s), longest batch {r['longest_batch_ms']} ms "
            f"({r['longest_batch_cpu_ms']} ms of CPU); writes "
            f"p99/max {base['p99_ms']}/{base['max_ms']} ms before, "
            f"{during['p99_ms']}/{during['max_ms']} ms during ({during['count']:,} writes); "
            f"loop lag max {r['loop_lag_max_ms']['baseline']} -> "
            f"{r['loop_lag_max_ms']['deleting']} ms; waited for the core "
            f"{r['core_wait_ms']['baseline']} / {r['core_wait_ms']['deleting']} ms")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.retention",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--backlog", type=int, default=200_000)
    parser.add_argument("--batches", type=lambda t: [int(x) for x in t.split(",")],
                        default=[retention.BATCH])
    parser.add_argument("--every-ms", type=float, default=2.0)
    parser.add_argument("--baseline-s", type=float, default=3.0)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS / "retention.json")
    options = parser.parse_args()
    print(f"load before: {load_average()}", flush=True)
    results = asyncio.run(run(options))
    previous = json.loads(options.out.read_text()) if options.out.exists() else {}
    key = "postgresql" if options.postgres else "sqlite"
    previous[key] = {"runs": results, "backlog": options.backlog,
                     "every_ms": options.every_ms, "load_after": load_average(),
                     "machine": machine_facts(PEER_DIR)}
    options.out.write_text(json.dumps(previous, indent=1) + "\n")
    print(f"written: {options.out}")


if __name__ == "__main__":
    main()
