"""`python -m bench --database postgresql`: dispatchwire on PostgreSQL + Redis, one node and two.

A throwaway PostgreSQL (its own defaults: fsync and synchronous commit on) and Redis start as
the tests start them. For each cluster size in `--nodes`, a fresh database is seeded, the nodes
start (pinned to the servers' core, as the single process is), the masters spread over them
(master i on node i % n) and the clients' requests are dealt to them in turn, as a load
balancer would. Then the dispatch ladder (bench/dispatch.py) climbs as on SQLite, and past the
limit. Beside orders/s and p99, each step reports the CPU of the nodes, of PostgreSQL (the
postmaster and its backends) and of Redis, and from them the milliseconds of CPU each order
cost each of the three: the figures from which bigger machines are estimated
(docs/performance.md). The peer has no PostgreSQL mode; it does not run here.
"""

import asyncio
import contextlib
import dataclasses
import secrets
import tempfile
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
from tests.pg import PostgresServer

from bench.canary import Canary
from bench.dispatch import Step, run_ladder, run_past_the_limit
from bench.fleet import Fleet
from bench.httppool import SpreadPool
from bench.options import Options
from bench.procs import CpuGroup, CpuMeter, TreeCpuMeter
from bench.rig import Rig
from bench.seed import Plan, seed_postgresql
from bench.servers import DispatchwireServer, RedisServer, dispatchwire_env, free_port
from bench.source import export_source

__all__ = ["capacity", "describe", "per_order_ms", "run_postgresql"]

CONNECT_TIMEOUT_S = 600.0
SETTLE_MAX_S, QUIET_PCT = 30.0, 30.0  # of one core, each of the nodes and PostgreSQL


@dataclasses.dataclass
class ClusterRig(Rig):
    """A Rig whose server is several nodes on one PostgreSQL and one Redis."""

    nodes: list[DispatchwireServer] = dataclasses.field(default_factory=list)
    database_url: str = ""
    postgres_pid: int = 0
    redis_pid: int = 0

    def server_meter(self) -> CpuMeter | CpuGroup:
        return CpuGroup([CpuMeter(node.pid) for node in self.nodes])  # all nodes together

    def more_meters(self) -> dict[str, CpuMeter | CpuGroup]:
        meters: dict[str, CpuMeter | CpuGroup] = {
            "postgresql": TreeCpuMeter(self.postgres_pid), "redis": CpuMeter(self.redis_pid)}
        if len(self.nodes) > 1:
            meters.update({f"node{i + 1}": CpuMeter(node.pid)
                           for i, node in enumerate(self.nodes)})
        return meters

    def offers_by_id(self, assignment_ids: list[int]) -> dict[int, int]:
        # Called between steps from synchronous code: the query runs on a loop of its own.
        with ThreadPoolExecutor(1) as thread:
            return thread.submit(asyncio.run, self._offers(assignment_ids)).result()

    async def _offers(self, assignment_ids: list[int]) -> dict[int, int]:
        conn = await asyncpg.connect(self.database_url.replace("+asyncpg", ""))
        try:
            rows = await conn.fetch("SELECT id, master_id FROM assignments WHERE id = ANY($1)",
                                    assignment_ids)
        finally:
            await conn.close()
        return {row["id"]: row["master_id"] for row in rows}


@contextlib.asynccontextmanager
async def open_cluster(n: int, options: Options, plan: Plan, url: str, pg: PostgresServer,
                       redis: RedisServer, workdir: Path, source: Path | None,
                       say: Any) -> AsyncIterator[ClusterRig]:
    """`n` started nodes on `url`, with the masters' fleet spread over them."""
    nodes = [DispatchwireServer(port=free_port(), database=url, secret=plan.secret,
                                broker_url=redis.url, log_path=workdir / f"node{i + 1}.log",
                                source=source, gc_log=workdir / f"node{i + 1}-gc.log")
             for i in range(n)]
    urls = [f"ws://127.0.0.1:{node.port}/ws" for node in nodes]
    assert redis.proc is not None
    rig = ClusterRig(
        system="dispatchwire", options=options, plan=plan, database=workdir, server=nodes[0],
        fleet=Fleet(urls, [plan.token(plan.master_user(i), "master")
                           for i in range(plan.masters)], acks=options.acks == "yes"),
        pool=SpreadPool([node.port for node in nodes], options.http_connections),
        canary=Canary(urls[0], plan.token(plan.canary_user, "client")),
        client_tokens=[plan.token(plan.client_user(i), "client") for i in range(plan.clients)],
        source=source, gc_log=workdir / "node1-gc.log", nodes=nodes, database_url=url,
        postgres_pid=pg.pid, redis_pid=redis.proc.pid)
    try:
        for node in nodes:
            ready_s = await node.start()
            say(f"  node {node.port}: ready in {ready_s:.1f} s (pid {node.pid})")
        rig.pool.start()
        await rig.canary.start()
        yield rig
    finally:
        await rig.canary.stop()
        await rig.fleet.close()
        await rig.pool.close()
        for node in nodes:
            await node.stop(10.0)
            node.kill()


def per_order_ms(step: Step) -> dict[str, float | None]:
    """Milliseconds of CPU per order (placed, offered, cancelled) of the nodes, PostgreSQL and
    Redis, over the step's sending window."""
    if not step.throughput_per_s:
        return {"nodes": None, "postgresql": None, "redis": None}
    cost = {"nodes": step.server_cpu_pct, "postgresql": step.more_cpu_pct.get("postgresql", 0.0),
            "redis": step.more_cpu_pct.get("redis", 0.0)}
    return {name: round(pct * 10 / step.throughput_per_s, 3) for name, pct in cost.items()}


async def _one_size(n: int, options: Options, plan: Plan, pg: PostgresServer,
                    redis: RedisServer, workdir: Path, source: Path | None,
                    say: Any) -> dict[str, Any]:
    database = f"bench_{n}_nodes"
    await asyncio.to_thread(pg.sql, f"CREATE DATABASE {database}")
    url = pg.url(database)
    await seed_postgresql(url, plan, dispatchwire_env(url, plan.secret, source))
    say(f"dispatchwire on PostgreSQL, {n} node(s): seeded {plan.masters} masters")
    async with open_cluster(n, options, plan, url, pg, redis, workdir, source, say) as rig:
        seconds = await rig.fleet.connect(concurrency=options.connect_concurrency,
                                          timeout_s=CONNECT_TIMEOUT_S)
        rig.fleet.start_pinging()
        say(f"  {rig.fleet.n} masters subscribed in {seconds:.1f} s")
        say(f"  settled in {await _settle(rig):.1f} s")
        steps = await run_ladder(rig, say)
        past = await run_past_the_limit(rig, steps, say)
        for step in [*steps, *([past] if past else [])]:
            say(f"  {step.rate}/s: CPU ms per order {per_order_ms(step)}; CPU % "
                f"{ {'nodes': step.server_cpu_pct, **step.more_cpu_pct} }")
        return {"nodes": n, "connect_s": round(seconds, 2),
                "dispatch": [_with_costs(step) for step in steps],
                "dispatch_past_limit": _with_costs(past) if past else None,
                "fleet_errors": dict(rig.fleet.errors), "fleet_drops": rig.fleet.drops}


async def _settle(rig: ClusterRig) -> float:
    """Wait, up to SETTLE_MAX_S, until the nodes and PostgreSQL are quiet after the masters
    connected (their last-seen writes, the collections of the connect storm): a first step
    started 2 s after 10,000 masters connected failed at a rate the next ones held. Seconds
    waited."""
    started = time.monotonic()
    await asyncio.sleep(2.0)
    while time.monotonic() - started < SETTLE_MAX_S:
        meters = [rig.server_meter().start(), TreeCpuMeter(rig.postgres_pid).start()]
        await asyncio.sleep(1.0)
        if all(meter.percent() < QUIET_PCT for meter in meters):
            break
    return time.monotonic() - started


def _with_costs(step: Step) -> dict[str, Any]:
    return {**dataclasses.asdict(step), "cpu_ms_per_order": per_order_ms(step)}


async def run_postgresql(options: Options, raw_dir: Path, say: Any) -> dict[str, Any]:
    """Every cluster size in `options.nodes`; a JSON-ready dict of what was measured."""
    plan = Plan(masters=options.masters, clients=options.clients,
                secret=secrets.token_urlsafe(48))
    pg = await asyncio.to_thread(PostgresServer.start, durable=True)
    redis = RedisServer(raw_dir / "redis.log")
    results: dict[str, Any] = {"sizes": []}
    try:
        await redis.start()
        with tempfile.TemporaryDirectory(prefix="dispatchwire-bench-pg-") as tmp:
            source = export_source(options.ref, Path(tmp)) if options.ref else None
            for n in options.nodes:
                workdir = Path(tmp) / f"{n}-nodes"
                workdir.mkdir()
                try:
                    results["sizes"].append(await _one_size(n, options, plan, pg, redis,
                                                            workdir, source, say))
                finally:
                    for log in workdir.glob("*.log"):  # kept for a look after the run
                        (raw_dir / f"pg-{n}-{log.name}").write_bytes(log.read_bytes())
    finally:
        redis.stop()
        if (pg.root / "log").exists():  # its deadlocks and slow statements, for a look after
            (raw_dir / "postgresql.log").write_bytes((pg.root / "log").read_bytes())
        await asyncio.to_thread(pg.stop)
    return results


def capacity(size: dict[str, Any]) -> dict[str, Any] | None:
    """From the busiest step that held (the last step when none did): orders/s one core of
    nodes, one core of PostgreSQL and Redis's one thread would hold at that step's costs."""
    steps = size["dispatch"]
    held = [step for step in steps if step["held"]]
    step = max(held, key=lambda s: s["throughput_per_s"]) if held else (steps[-1] if steps
                                                                         else None)
    if step is None or not step["cpu_ms_per_order"]["nodes"]:
        return None
    costs = step["cpu_ms_per_order"]
    return {"from_rate": step["rate"], "cpu_ms_per_order": costs,
            "orders_per_s_per_core": {name: round(1000 / ms) if ms else None
                                      for name, ms in costs.items()}}


def describe(results: dict[str, Any]) -> str:
    """The run as Markdown: every step of every cluster size, then the per-core capacities."""
    lines = ["| nodes | rate/s | held | offers/s | p99 ms | refused | CPU % nodes / PG / Redis "
             "| CPU ms per order nodes / PG / Redis |", "|---|---|---|---|---|---|---|---|"]
    for size in results["sizes"]:
        past = [size["dispatch_past_limit"]] if size["dispatch_past_limit"] else []
        for step in [*size["dispatch"], *past]:
            more, ms = step["more_cpu_pct"], step["cpu_ms_per_order"]
            lines.append(
                f"| {size['nodes']} | {step['rate']}{' (2x)' if step in past else ''} | "
                f"{'yes' if step['held'] else 'no'} | {step['throughput_per_s']} | "
                f"{step['latency']['p99_ms']} | {step['refused']} | {step['server_cpu_pct']} / "
                f"{more.get('postgresql')} / {more.get('redis')} | {ms['nodes']} / "
                f"{ms['postgresql']} / {ms['redis']} |")
    lines += ["", "| nodes | from rate/s | orders/s per core: nodes / PostgreSQL / Redis |",
              "|---|---|---|"]
    for size in results["sizes"]:
        if (found := capacity(size)) is not None:
            per = found["orders_per_s_per_core"]
            lines.append(f"| {size['nodes']} | {found['from_rate']} | {per['nodes']} / "
                         f"{per['postgresql']} / {per['redis']} |")
    return "\n".join(lines) + "\n"
