"""One system's run: seed, start, connect N masters, then the chosen scenarios in turn.

Phase one runs on each system's default set-up (dispatchwire: SQLite and the in-memory broker):
idle memory, N masters connected and subscribed, memory again, the dispatch ladder, the connect
storm. Phase two restarts the server with the delivery trigger (the Redis broker; the peer's
Redis subscriber), lets the masters reconnect, and climbs the delivery ladder.
"""

import asyncio
import contextlib
import dataclasses
from pathlib import Path
from typing import Any

from bench.canary import Canary
from bench.delivery import run_delivery
from bench.dispatch import run_ladder, run_past_the_limit
from bench.fleet import Fleet
from bench.httppool import HttpPool
from bench.options import Options
from bench.procs import rss_bytes
from bench.rig import Rig
from bench.seed import Plan, seed_dispatchwire, seed_peer
from bench.servers import (
    DispatchwireServer,
    PeerServer,
    RedisServer,
    Server,
    dispatchwire_env,
    free_port,
)
from bench.storm import run_storm

__all__ = ["SQL_COUNTS", "make_server", "open_rig", "run_system"]

CONNECT_TIMEOUT_S = 600.0
SQL_COUNTS = "sql-counts.json"  # bench.server_probe's statement counts, when profiling


def make_server(system: str, *, port: int, database: Path, plan: Plan, redis: str | None,
                workdir: Path, source: Path | None, count_sql: bool = False,
                settings: dict[str, str] | None = None) -> Server:
    """`settings`: dispatchwire's own, beside its defaults (the peer has none)."""
    log_path = workdir / f"{system}-server.log"
    if system == "dispatchwire":
        return DispatchwireServer(port=port, database=database, secret=plan.secret,
                                  broker_url=redis or "memory://", log_path=log_path,
                                  source=source, gc_log=workdir / "dispatchwire-gc.log",
                                  sql_log=workdir / SQL_COUNTS if count_sql else None,
                                  settings=settings)
    return PeerServer(port=port, database=database, secret=plan.secret, redis_url=redis,
                      log_path=log_path)


@contextlib.asynccontextmanager
async def open_rig(system: str, options: Options, plan: Plan, workdir: Path, say: Any,
                   source: Path | None = None) -> Any:
    """A seeded, started server with the masters' fleet, the clients' pool and the canary."""
    database = workdir / f"{system}.db"
    if system == "dispatchwire":
        await asyncio.to_thread(seed_dispatchwire, database, plan,
                                dispatchwire_env(database, plan.secret, source))
    else:
        seed_peer(database, plan)
    port = free_port()
    server = make_server(system, port=port, database=database, plan=plan, redis=None,
                         workdir=workdir, source=source, count_sql=options.profile)
    url = f"ws://127.0.0.1:{port}/ws"
    fleet = Fleet(url, [plan.token(plan.master_user(i), "master") for i in range(plan.masters)],
                  # its apps ack every event; the seed's do not
                  acks=system == "dispatchwire" and options.acks == "yes")
    rig = Rig(system=system, options=options, plan=plan, database=database, server=server,
              fleet=fleet, pool=HttpPool(port, options.http_connections),
              canary=Canary(url, plan.token(plan.canary_user, "client")),
              client_tokens=[plan.token(plan.client_user(i), "client")
                             for i in range(plan.clients)],
              source=source, gc_log=workdir / "dispatchwire-gc.log"
              if system == "dispatchwire" else None)
    try:
        ready_s = await server.start()
        say(f"{system}: ready in {ready_s:.1f} s (pid {server.pid}, port {port})")
        rig.pool.start()
        await rig.canary.start()
        rig.host.start()
        yield rig
    finally:
        rig.host.stop()
        await rig.canary.stop()
        await fleet.close()
        await rig.pool.close()
        await rig.server.stop(10.0)
        rig.server.kill()


async def _connect(rig: Rig, say: Any) -> dict[str, Any]:
    """Connect the masters; the per-connection memory (RSS with N subscribed - RSS idle) / N."""
    await asyncio.sleep(1.0)
    idle = rss_bytes(rig.server.pid)
    meters = rig.meters()
    seconds = await rig.fleet.connect(concurrency=rig.options.connect_concurrency,
                                      timeout_s=CONNECT_TIMEOUT_S)
    cpu, stall = meters.server.percent(), rig.canary.window()
    gc = rig.gc_pauses(meters)
    rig.fleet.start_pinging()
    await asyncio.sleep(2.0)
    connected = rss_bytes(rig.server.pid)
    memory = {"connections": rig.fleet.n, "connect_s": round(seconds, 2),
              "connect_server_cpu_pct": cpu, "connect_max_stall_ms": stall,
              "connect_gc_max_ms": gc["gc_max_ms"], "drops": rig.fleet.drops,
              "rss_idle_mib": round(idle / 2**20, 1),
              "rss_connected_mib": round(connected / 2**20, 1),
              "kib_per_connection": round((connected - idle) / rig.fleet.n / 1024, 2)}
    say(f"  {rig.system}: {rig.fleet.n} masters subscribed in {seconds:.1f} s; "
        f"{memory['kib_per_connection']} KiB per connection (RSS {memory['rss_idle_mib']} -> "
        f"{memory['rss_connected_mib']} MiB)")
    return memory


async def _restart_for_delivery(rig: Rig, redis: RedisServer, workdir: Path, say: Any) -> float:
    """Restart the server with the delivery trigger; seconds until the masters are back."""
    return await _restart(rig, workdir, say, redis=redis.url, why="the delivery trigger")


async def _restart(rig: Rig, workdir: Path, say: Any, *, why: str, redis: str | None = None,
                   settings: dict[str, str] | None = None) -> float:
    """Restart the server on the same database, with `redis` as its broker (or its own) and
    `settings`; seconds until the masters are back."""
    await rig.server.stop()
    rig.server = make_server(rig.system, port=rig.server.port, database=rig.database,
                             plan=rig.plan, redis=redis, workdir=workdir, source=rig.source,
                             count_sql=rig.options.profile, settings=settings)
    await rig.server.start()
    seconds = await rig.fleet.connect(concurrency=rig.options.connect_concurrency,
                                      timeout_s=CONNECT_TIMEOUT_S)
    await asyncio.sleep(2.0)
    say(f"  {rig.system}: restarted with {why}; masters back in {seconds:.1f} s")
    return seconds


async def _run_fanout(rig: Rig, workdir: Path, say: Any) -> list[dict[str, Any]]:
    """The dispatch ladder again, on a server that offers each order to K masters at once
    (DISPATCHWIRE_OFFER_FANOUT, issue 18): the first offer to arrive is timed, the client then
    cancels, which withdraws the others."""
    k = rig.options.fanout
    await _restart(rig, workdir, say, why=f"fan-out K = {k}",
                   settings={"DISPATCHWIRE_OFFER_FANOUT": str(k)})
    rig.fanout = k
    try:
        return [dataclasses.asdict(step) for step in await run_ladder(rig, say)]
    finally:
        rig.fanout = 1


async def run_system(system: str, options: Options, plan: Plan, workdir: Path,
                     redis: RedisServer | None, say: Any, source: Path | None = None
                     ) -> dict[str, Any]:
    """Every chosen scenario on one system; a JSON-ready dict of what was measured."""
    result: dict[str, Any] = {}
    async with open_rig(system, options, plan, workdir, say, source) as rig:
        result["memory"] = await _connect(rig, say)
        capacity = None
        if "dispatch" in options.scenarios:
            steps = await run_ladder(rig, say)
            result["dispatch"] = [dataclasses.asdict(step) for step in steps]
            capacity = max(step.throughput_per_s for step in steps)
            if (past := await run_past_the_limit(rig, steps, say)) is not None:
                result["dispatch_past_limit"] = dataclasses.asdict(past)
        if "storm" in options.scenarios:
            result["storm"] = dataclasses.asdict(await run_storm(rig, say, capacity))
        if "fanout" in options.scenarios and system == "dispatchwire":
            result["fanout"] = await _run_fanout(rig, workdir, say)
        if "delivery" in options.scenarios and redis is not None:
            result["delivery_reconnect_s"] = await _restart_for_delivery(rig, redis, workdir,
                                                                         say)
            steps = await run_delivery(rig, redis.port, say)
            result["delivery"] = [dataclasses.asdict(step) for step in steps]
            if rig.delivery_targets:
                result["delivery_left_out"] = rig.fleet.n - len(rig.delivery_targets)
        result["fleet_errors"] = dict(rig.fleet.errors)
        result["fleet_drops"] = rig.fleet.drops
        result["fleet_acks_sent"] = rig.fleet.acks_sent
    return result
