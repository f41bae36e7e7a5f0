"""Scenario "connect storm": the server restarts and every master reconnects at once.

Orders keep coming at a low rate throughout. The server gets SIGTERM (both close their sockets
with 1012), starts again, and as soon as it answers its health check all N masters reconnect
together, authenticating with the `lastEventId` they last saw (the peer, like the seed, ignores
it). Measured: seconds until every master is subscribed again, the longest stall of the
server's loop seen by the canary, and whether any order stored by the server never reached its
master as an offer (orders refused while the server was down are counted apart).
"""

import asyncio
import contextlib
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any

from bench.dispatch import OrderBook
from bench.procs import rss_bytes
from bench.rig import Rig
from bench.stats import summarize
from bench.waits import until

__all__ = ["Storm", "run_storm"]

DRAIN_S = 30.0
MIN_RATE = 0.2


@dataclass
class Storm:
    connections: int
    order_rate: float
    shutdown_s: float = 0.0
    restart_ready_s: float = 0.0  # from the new process's start to its health check passing
    resubscribed_s: float | None = None  # from the health check to the last subscription
    from_sigterm_s: float | None = None
    subscribed: int = 0
    per_master_ms: dict[str, Any] = field(default_factory=dict)  # each one's time, from ready
    max_stall_ms: float = 0.0
    gc_max_ms: float | None = None
    gc_full: int | None = None
    server_cpu_pct: float = 0.0
    server_rss_mib: float = 0.0
    connect_failures: int = 0
    orders_stored: int = 0
    refused_while_down: int = 0
    offers: int = 0
    lost: int = 0  # stored orders whose offer never arrived by the end
    lost_never_offered: int = 0  # of which: still waiting for a master
    lost_master_absent: int = 0  # of which: offered to a master not back when it ended
    duplicates: int = 0


async def _trickle(rig: Rig, book: OrderBook, rate: float) -> None:
    start = time.perf_counter()
    sent = 0
    while True:
        while sent < int((time.perf_counter() - start) * rate) + 1:
            book.place(rig.next_seq, start + sent / rate)
            rig.next_seq += 1
            sent += 1
        await asyncio.sleep(0.01)


def _stored_orders(rig: Rig, book: OrderBook) -> dict[int, int | None]:
    """The trickle's orders the server did store, whatever their POST's fate, with the
    master last offered each (None: never offered)."""
    with sqlite3.connect(f"file:{rig.database}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT o.problem, MAX(a.master_id) FROM orders o LEFT JOIN assignments a"
            " ON a.order_id = o.id GROUP BY o.id ORDER BY o.id DESC LIMIT ?",
            (len(book.due) + 1000,)).fetchall()
    conn.close()
    stored = {int(problem.rsplit("#", 1)[1]): master for problem, master in rows}
    return {seq: master for seq, master in stored.items() if seq in book.due}


async def run_storm(rig: Rig, say: Any, capacity_per_s: float | None = None) -> Storm:
    """The storm; orders come at --storm-rate, at most half of `capacity_per_s` (what the
    dispatch ladder saw delivered), so that they test for losses without drowning the server."""
    fleet = rig.fleet
    rate = rig.options.storm_rate
    if capacity_per_s is not None:
        rate = max(MIN_RATE, min(rate, capacity_per_s / 2))
    storm = Storm(connections=fleet.n, order_rate=rate)
    book = OrderBook(rig)
    fleet.sink = book
    fleet.resume = True
    trickle = asyncio.create_task(_trickle(rig, book, rate))
    await asyncio.sleep(2.0)
    killed = time.perf_counter()
    storm.shutdown_s = round(await rig.server.stop(), 2)
    await until(lambda: fleet.subscribed == 0, 10.0)
    storm.restart_ready_s = round(await rig.server.start(), 2)
    ready = time.perf_counter()
    await until(lambda: rig.canary.connected, 5.0, every_s=0.005)  # watch it all
    meters = rig.meters()
    failures = fleet.connect_failures
    with contextlib.suppress(TimeoutError):
        await fleet.connect(concurrency=None, timeout_s=rig.options.storm_timeout_s)
    done = time.perf_counter()
    storm.max_stall_ms = rig.canary.window()
    storm.gc_max_ms, storm.gc_full = rig.gc_pauses(meters).values()
    storm.server_cpu_pct = meters.server.percent()
    storm.subscribed = fleet.subscribed
    storm.connect_failures = fleet.connect_failures - failures
    if fleet.subscribed == fleet.n:
        storm.resubscribed_s = round(done - ready, 2)
        storm.from_sigterm_s = round(done - killed, 2)
    storm.per_master_ms = summarize([t - ready for t in fleet.subscribed_times() if t >= ready])
    await asyncio.sleep(2.0)
    trickle.cancel()
    await until(lambda: book.settled() and rig.pool.idle, DRAIN_S)
    stored = _stored_orders(rig, book)
    storm.orders_stored = len(stored)
    storm.refused_while_down = sum(1 for seq in book.due if seq not in stored)
    storm.offers = len(book.arrived)
    lost = [master for seq, master in stored.items() if seq not in book.arrived]
    storm.lost = len(lost)
    storm.lost_never_offered = sum(1 for master in lost if master is None)
    storm.lost_master_absent = sum(1 for master in lost if master is not None
                                   and not fleet.is_subscribed[master - 1])
    storm.duplicates = book.duplicates
    storm.server_rss_mib = round(rss_bytes(rig.server.pid) / 2**20, 1)
    say(f"  {rig.system} connect storm: {storm.subscribed}/{storm.connections} resubscribed in "
        f"{storm.resubscribed_s} s after the restart ({storm.from_sigterm_s} s after SIGTERM); "
        f"max stall {storm.max_stall_ms} ms; offers {storm.offers}/{storm.orders_stored} "
        f"stored orders, lost {storm.lost}; server CPU {storm.server_cpu_pct}%")
    return storm
