"""Scenario "delivery": the gateway's own ceiling, with the database out of the way.

dispatchwire has no internal trigger, but it has a path on which events reach sockets without a
database read: the Redis broker, which carries every process's stored events to the others. The
server runs with `DISPATCHWIRE_BROKER_URL=redis://...`, and the generator publishes events on the
broker's channel as another process would: `new_assignment` frames of a real offer's size, with
each master's next `eventId`, which the gateway writes straight to the socket. The peer gets the
same messages through a small RESP subscriber (trigger.js). The frames sent in one 1 ms tick go
in one message; latency runs from the tick's intended time to the frame's arrival.
"""

import asyncio
import functools
import sqlite3
import time
from collections import deque
from typing import Any, cast

import orjson

from bench.dispatch import GIVE_UP_AFTER_S, Step, refine
from bench.hostspeed import describe
from bench.procs import rss_bytes
from bench.rig import Rig
from bench.stats import summarize
from bench.waits import until

__all__ = ["Publisher", "an_order_of_record", "next_event_ids", "run_delivery"]

CHANNEL = b"dispatchwire:events"
TICK_S = 0.001
DRAIN_S = 3.0
QUIET_S, QUIET_WAIT_MAX_S = 1.0, 60.0  # before a step that follows a failed one
WARM_UP_ROUNDS = 30
# Sockets that may stay deaf through the warm-up and be left out of the steps, said and counted
# (once, seven of the peer's 10,000 never got a frame after its restart, and the whole run was
# lost); more than this fails the run.
DEAF_AT_MOST = 10


class Publisher(asyncio.Protocol):
    """PUBLISH over a raw RESP connection; the replies (subscriber counts) are ignored."""

    transport: asyncio.Transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        return None

    def publish(self, payload: bytes) -> None:
        self.transport.write(b"*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n"
                             % (len(CHANNEL), CHANNEL, len(payload), payload))

    @classmethod
    async def connect(cls, port: int) -> "Publisher":
        _, publisher = await asyncio.get_running_loop().create_connection(cls, "127.0.0.1", port)
        return publisher


class _Deliveries:
    """The sink: which socket each frame was meant for, and when it was due and arrived."""

    def __init__(self) -> None:
        self.due: dict[int, float] = {}
        self.target: dict[int, int] = {}
        self.arrived: dict[int, float] = {}
        self.misrouted = 0
        self.duplicates = 0
        self.waiting: deque[int] = deque()

    def on_offer(self, index: int, assignment: dict[str, Any], at: float) -> None:
        seq = assignment["id"]
        if seq in self.arrived:
            self.duplicates += 1
        elif self.target.get(seq) != index:
            self.misrouted += 1
        else:
            self.arrived[seq] = at

    def on_acked(self, index: int, assignment: dict[str, Any], at: float) -> None:
        return None  # these offers exist in no database: their receipts are not measured

    def oldest_wait(self, now: float) -> float:
        while self.waiting and self.waiting[0] in self.arrived:
            self.waiting.popleft()
        return now - self.due[self.waiting[0]] if self.waiting else 0.0


def _cut_off(step: Step) -> str:
    if not step.cut_off_sockets:
        return ""
    return (f" (and {step.lost_on_cut_off} on the {step.cut_off_sockets} sockets that closed"
            " meanwhile: slow readers cut off, or dropped)")


def _iso(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(at))


def _offer_times() -> tuple[str, str]:
    """A real offer's times: made now, due in an hour. Both matter to dispatchwire's expiry
    loop, which every offer's event reaches: it must wake for the deadline, or sooner, for the
    moment the offer counts as undelivered (`createdAt` plus DISPATCHWIRE_UNDELIVERED_TIMEOUT_S).
    An offer's timer that comes before the loop's planned wake-up wakes it, and these offers
    are in no database, so a pass never pushes its wake-up past them: with `createdAt` fixed
    when the bench started (as until 2026-12-07), every frame from ~30 s in (the timeout's 60
    less the loop's longest sleep, 30) woke the loop for a pass over the database, ~200
    passes a second at 2,000 frames/s."""
    made = time.time()
    return _iso(made), _iso(made + 3600)


def _event(rig: Rig, seq: int, index: int, event_id: int,
           times: tuple[str, str]) -> list[Any]:
    created_at, expires_at = times
    assignment = {"id": seq, "orderId": rig.delivery_order or seq,
                  "applianceType": "washing_machine",
                  "problem": f"Drum does not spin #{seq}", "address": "12 Baker St",
                  "expiresAt": expires_at, "createdAt": created_at}
    return [rig.plan.master_user(index), event_id, "new_assignment",
            {"assignment": assignment}, time.time()]


def an_order_of_record(rig: Rig) -> int | None:
    """A (cancelled) order for dispatchwire's frames to name: the server records each offer's
    frame as a `sent` step of its order, which must exist (the offers themselves need not)."""
    if rig.system != "dispatchwire":
        return None
    with sqlite3.connect(rig.database, timeout=10) as conn:
        now = time.strftime("%Y-%m-%d %H:%M:%S.000000", time.gmtime())
        order_id = conn.execute(
            "INSERT INTO orders (client_id, status, appliance_type, problem, address, created_at,"
            " updated_at) VALUES (?, 'cancelled', 'washing_machine', 'bench', 'bench', ?, ?)"
            " RETURNING id", (rig.plan.client_user(0), now, now)).fetchone()[0]
    conn.close()
    return int(order_id)


def next_event_ids(rig: Rig) -> list[int]:
    """Each master's newest stored eventId: the gateway's cursor, which live events follow."""
    if rig.system != "dispatchwire":
        return list(rig.fleet.last_event)
    with sqlite3.connect(f"file:{rig.database}?mode=ro", uri=True) as conn:
        newest = dict(conn.execute("SELECT id, last_event_id FROM users"))
    conn.close()
    return [int(newest[rig.plan.master_user(i)]) for i in range(rig.fleet.n)]


async def run_step(rig: Rig, publisher: Publisher, rate: int, duration_s: float,
                   event_ids: list[int]) -> Step:
    step = Step(rate=rate, planned_s=duration_s)
    sink = _Deliveries()
    rig.fleet.sink = sink
    rig.fleet.dropped.clear()
    meters = rig.meters()
    targets = rig.delivery_targets or list(range(rig.fleet.n))
    n = len(targets)
    total = max(1, round(rate * duration_s))
    start = time.perf_counter()
    while step.sent < total:
        now = time.perf_counter()
        due = min(total, int((now - start) * rate) + 1)
        events, times = [], _offer_times()
        while step.sent < due:
            seq, index = rig.next_seq, targets[rig.next_seq % n]
            event_ids[index] += 1
            events.append(_event(rig, seq, index, event_ids[index], times))
            sink.due[seq], sink.target[seq] = start + step.sent / rate, index
            sink.waiting.append(seq)
            rig.next_seq += 1
            step.sent += 1
        if events:
            publisher.publish(orjson.dumps({"node": "bench", "events": events}))
        if sink.oldest_wait(now) > GIVE_UP_AFTER_S:
            step.gave_up = True
            break
        await asyncio.sleep(TICK_S)
    step.sending_s = time.perf_counter() - start
    step.server_cpu_pct = meters.server.percent()
    step.generator_cpu_pct = meters.generator.percent()
    step.throughput_per_s = round(len(sink.arrived) / step.sending_s, 1)
    step.max_stall_ms = rig.canary.window()
    step.host_probe_ms = rig.host.window()
    step.gc_max_ms, step.gc_full = rig.gc_pauses(meters).values()
    step.gc_by_generation = rig.gc_generations(meters)
    await until(lambda: len(sink.arrived) + sink.misrouted >= step.sent, DRAIN_S)
    latencies = [sink.arrived[seq] - sink.due[seq] for seq in sink.arrived]
    step.placed, step.offers = step.sent, len(sink.arrived)
    _count_lost(step, sink, cut_off=rig.fleet.dropped)
    step.misrouted, step.duplicates = sink.misrouted, sink.duplicates
    step.latency = summarize(latencies)
    step.latencies_ms = [round(x * 1000, 3) for x in latencies]
    step.server_rss_mib = round(rss_bytes(rig.server.pid) / 2**20, 1)
    p99 = step.latency["p99_ms"]
    step.held = (not step.gave_up and step.lost == 0 and step.lost_on_cut_off == 0
                 and step.misrouted == 0 and p99 is not None and p99 <= rig.options.p99_limit_ms)
    return step


async def _quiet(sink: _Deliveries) -> None:
    """Wait until the frames of a failed step stop arriving (at most QUIET_WAIT_MAX_S): what a
    server still had queued would otherwise reach the next step, late and misrouted."""
    deadline, seen = time.monotonic() + QUIET_WAIT_MAX_S, -1
    while time.monotonic() < deadline:
        count = len(sink.arrived) + sink.misrouted + sink.duplicates
        if count == seen:
            return
        seen = count
        await asyncio.sleep(QUIET_S)


def _count_lost(step: Step, sink: _Deliveries, *, cut_off: set[int]) -> None:
    """Frames that never arrived, in two counts. Those meant for a socket that closed during
    the step (the server cuts off a slow reader whose send queue filled, and drops a socket
    that leaves a ping unanswered) are `lost_on_cut_off`: a real event is stored, and the
    app's resume would read it back, but these made-up ones exist in no database, so they are
    gone. The rest are `lost`: frames a socket that stayed never got. Either fails the step;
    the line says which."""
    missing = step.sent - len(sink.arrived) - sink.misrouted
    on_cut_off = sum(1 for seq in sink.due if seq not in sink.arrived
                     and sink.target[seq] in cut_off) if cut_off else 0
    step.lost_on_cut_off = min(missing, on_cut_off)
    step.lost = missing - step.lost_on_cut_off
    step.cut_off_sockets = len(cut_off)


async def warm_up(rig: Rig, publisher: Publisher, event_ids: list[int]) -> list[int]:
    """One frame to every master, sent again until each has arrived: every socket is live.
    The masters whose socket never got it, a few at most (DEAF_AT_MOST), are returned.

    A socket answers `subscribe_assignments` while it may still be reading its stored events
    after the reconnect; a live event meanwhile is left to that read, which finds it in the
    database. These events are not in the database, so a frame sent then would count as lost.
    A frame sent again carries the same eventId: a socket that got the first drops the copy.
    """
    sink = _Deliveries()
    rig.fleet.sink = sink
    pending: dict[int, int] = {}  # master index -> the frame's seq
    for index in range(rig.fleet.n):
        event_ids[index] += 1
        pending[index] = rig.next_seq
        sink.target[rig.next_seq] = index
        rig.next_seq += 1
    for _ in range(WARM_UP_ROUNDS):
        pending = {i: seq for i, seq in pending.items() if seq not in sink.arrived}
        if not pending:
            return []
        batch = list(pending.items())
        for start in range(0, len(batch), 500):
            times = _offer_times()
            publisher.publish(orjson.dumps({"node": "bench", "events": [
                _event(rig, seq, index, event_ids[index], times)
                for index, seq in batch[start:start + 500]]}))
            await asyncio.sleep(0.005)
        waiting = list(pending.values())
        await until(lambda waiting=waiting: all(seq in sink.arrived for seq in waiting), 1.0)
    deaf = sorted(pending)
    if len(deaf) > DEAF_AT_MOST:
        raise RuntimeError(_never_live(rig, deaf))
    return deaf


def _never_live(rig: Rig, deaf: list[int]) -> str:
    subscribed = sum(rig.fleet.is_subscribed[index] for index in deaf)
    return (f"{len(deaf)} sockets never went live for the delivery scenario (masters"
            f" {deaf[:DEAF_AT_MOST]}; {subscribed} of them subscribed, as the generator saw it)")


async def run_delivery(rig: Rig, redis_port: int, say: Any) -> list[Step]:
    """Climb the delivery rates until a step fails, then refine between the last two rungs."""
    publisher = await Publisher.connect(redis_port)
    rig.delivery_order = an_order_of_record(rig)
    event_ids = next_event_ids(rig)
    steps: list[Step] = []

    async def run_at(rate: int, note: str = "") -> Step:
        if steps and not steps[-1].held:
            await _quiet(rig.fleet.sink)
        step = await run_step(rig, publisher, rate, rig.options.delivery_step_s, event_ids)
        lat = step.latency
        say(f"  {rig.system} delivery {rate}/s: {'held' if step.held else 'FAILED'}; "
            f"p50 {lat['p50_ms']} p99 {lat['p99_ms']} max {lat['max_ms']} ms; "
            f"lost {step.lost}{_cut_off(step)}, misrouted {step.misrouted}; server CPU "
            f"{step.server_cpu_pct}%, generator CPU {step.generator_cpu_pct}%, "
            f"max stall {step.max_stall_ms} ms{describe(step.host_probe_ms)}{note}")
        return step

    try:
        if deaf := await warm_up(rig, publisher, event_ids):
            say(f"  {rig.system}: {_never_live(rig, deaf)}: left out of its steps")
            deaf_set = set(deaf)
            rig.delivery_targets = [i for i in range(rig.fleet.n) if i not in deaf_set]
        for rate in rig.options.delivery_rates:
            steps.append(await run_at(rate))
            if not steps[-1].held:
                break
        await refine(steps, rig.options.refine,
                     functools.partial(run_at, note=" (between the last two rungs)"))
    finally:
        publisher.transport.close()
    return steps
