"""Scenario "dispatch": clients place orders at a ladder of rates; each offer is timed.

An order's latency runs from the moment the generator meant to send its POST (so a server that
falls behind is charged for the queue it causes) to its `new_assignment` arriving on a master's
socket; its delivery receipt's, from the same moment to the master's `ack` of the offer being
written (dispatchwire's masters ack, as its apps do; the server's own view of the receipts is
read from /metrics: receipts.py). The order's number travels in its `problem` text, so the
offer is matched at once. As soon as the offer arrives the order's client cancels it: that
withdraws the offer and frees the master, in both systems, so 10,000 masters serve any number
of orders (otherwise each would hold its pending offer until it expires, and an expired order
is offered to the next master, which would keep every master busy within seconds). Each order
then costs two requests. With `--free-masters between-steps` the cancels wait until a step is
over (untimed), so a step holds only order POSTs, and lasts at most as long as half the
masters last.
"""

import asyncio
import functools
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from bench.hostspeed import describe
from bench.httppool import request_bytes
from bench.procs import rss_bytes
from bench.receipts import bucket_summary, socket_receipts
from bench.rig import Rig
from bench.stats import percentile, summarize
from bench.waits import until

__all__ = ["OrderBook", "Step", "run_ladder", "run_past_the_limit", "run_step"]

TICK_S = 0.001
GIVE_UP_AFTER_S = 2.0  # an order waiting this long means the step has failed: stop sending
DRAIN_S = 5.0  # after the last order, how long its offer may take before it counts as lost
BACKLOG_DRAIN_S = 60.0  # after giving up: requests already written may take this long
PROBES = 3
BETWEEN_STEPS_S = 120.0  # --free-masters between-steps: how long the cancels may take
CANCEL = orjson.dumps({"status": "cancelled"})


def order_request(rig: Rig, seq: int) -> bytes:
    body = orjson.dumps({"applianceType": "washing_machine", "address": "12 Baker St",
                         "problem": f"Drum does not spin #{seq}"})
    return request_bytes("POST", "/api/orders", rig.client_tokens[seq % len(rig.client_tokens)],
                         body)


class OrderBook:
    """One step's orders: when each was due, its POST's outcome, its offer (and where)."""

    def __init__(self, rig: Rig, *, cancel_at_once: bool = True) -> None:
        self.rig = rig
        self.cancel_at_once = cancel_at_once
        self.due: dict[int, float] = {}
        self.placed: dict[int, int] = {}  # seq -> order id from the 201
        self.http_errors: Counter[str] = Counter()
        self.refused = 0  # 503: refused early, the server overloaded (counted apart)
        self.failed: set[int] = set()
        self.arrived: dict[int, float] = {}
        self.acked: dict[int, float] = {}  # seq -> when the master's ack of its offer went out
        self.offers: dict[int, tuple[int, int, int]] = {}  # seq -> (socket, offer id, order id)
        self.duplicates = 0
        self.fanned = 0  # with fan-out, an order's other offers (its cancel withdraws them)
        self.strays = 0  # offers of earlier steps' orders, arriving late
        self.cancel_errors: Counter[int] = Counter()
        self._waiting: deque[int] = deque()

    def place(self, seq: int, due: float) -> None:
        self.due[seq] = due
        self._waiting.append(seq)
        self.rig.pool.submit(order_request(self.rig, seq),
                             lambda status, body, _w, _d: self._placed(seq, status, body),
                             droppable=True)

    def _placed(self, seq: int, status: int, body: bytes) -> None:
        if status == 201:
            self.placed[seq] = orjson.loads(body)["id"]
            return
        self.failed.add(seq)
        if status == 503:
            self.refused += 1
        else:
            self.http_errors[str(status)] += 1

    def on_offer(self, index: int, assignment: dict[str, Any], at: float) -> None:
        seq = int(assignment["problem"].rsplit("#", 1)[1])
        if seq in self.arrived and self.rig.fanout > 1:
            self.fanned += 1  # one of the order's K offers, after the first: no second cancel
            return
        if self.cancel_at_once or seq not in self.due:
            self.cancel(seq, assignment["orderId"])
        if seq not in self.due:
            self.strays += 1
        elif seq in self.arrived:
            self.duplicates += 1
        else:
            self.arrived[seq] = at
            self.offers[seq] = (index, assignment["id"], assignment["orderId"])

    def on_acked(self, index: int, assignment: dict[str, Any], at: float) -> None:
        seq = int(assignment["problem"].rsplit("#", 1)[1])
        if seq in self.due and seq not in self.acked:
            self.acked[seq] = at

    def cancel(self, seq: int, order_id: int) -> None:
        """The client cancels, which frees the master (see the module's docstring)."""
        token = self.rig.client_tokens[seq % len(self.rig.client_tokens)]
        self.rig.pool.submit(request_bytes("POST", f"/api/orders/{order_id}/status", token,
                                           CANCEL), self._cancelled)

    def _cancelled(self, status: int, _body: bytes, _written: float, _done: float) -> None:
        if status != 200:
            self.cancel_errors[status] += 1

    def oldest_wait(self, now: float) -> float:
        """How long the oldest order still without an offer (or an answer) has waited."""
        while self._waiting and (self._waiting[0] in self.arrived
                                 or self._waiting[0] in self.failed):
            self._waiting.popleft()
        return now - self.due[self._waiting[0]] if self._waiting else 0.0

    def settled(self) -> bool:
        return all(seq in self.arrived for seq in self.placed)

    def latencies(self) -> list[float]:
        return [self.arrived[seq] - self.due[seq] for seq in self.arrived]

    def by_half_second(self) -> list[tuple[int, float]]:
        """(offers that arrived, their p99 ms) of the orders due in each half-second of the
        step: how the load shedding and the queues moved within it."""
        if not self.due:
            return []
        start = min(self.due.values())
        halves: list[list[float]] = [[] for _ in range(int((max(self.due.values()) - start) * 2)
                                                        + 1)]
        for seq, at in self.arrived.items():
            halves[int((self.due[seq] - start) * 2)].append(at - self.due[seq])
        return [(len(h), round(percentile(sorted(h), 0.99) * 1000, 1) if h else 0.0)
                for h in halves]

    def receipt_latencies(self) -> list[float]:
        """From each order's intended POST to its offer's ack being written."""
        return [self.acked[seq] - self.due[seq] for seq in self.acked]

    def misrouted(self) -> int:
        """Offers that reached a socket other than their master's, or named another order."""
        stored = self.rig.offers_by_id([offer_id for _, offer_id, _ in self.offers.values()])
        wrong = 0
        for seq, (index, offer_id, order_id) in self.offers.items():
            master = stored.get(offer_id)
            if master != index + 1 or (seq in self.placed and self.placed[seq] != order_id):
                wrong += 1
        return wrong


@dataclass
class Step:
    rate: int
    planned_s: float
    sent: int = 0
    sending_s: float = 0.0
    gave_up: bool = False
    dropped: int = 0  # orders queued in the generator but never sent, after giving up
    placed: int = 0
    offers: int = 0
    lost: int = 0
    # delivery: frames lost on sockets that closed during the step (slow readers cut off),
    # counted apart from `lost`; and how many sockets closed
    lost_on_cut_off: int = 0
    cut_off_sockets: int = 0
    misrouted: int = 0
    duplicates: int = 0
    fanned: int = 0  # with fan-out: offers of an order that arrived after its first
    http_errors: dict[str, int] = field(default_factory=dict)
    refused: int = 0  # orders refused early with 503 (the server's load shedding)
    cancel_errors: int = 0
    latency: dict[str, Any] = field(default_factory=dict)
    receipt: dict[str, Any] = field(default_factory=dict)  # POST -> the offer's ack sent
    server_receipt: dict[str, Any] = field(default_factory=dict)  # the server's, from /metrics
    throughput_per_s: float = 0.0  # offers that arrived per second while sending
    server_cpu_pct: float = 0.0
    server_rss_mib: float = 0.0
    generator_cpu_pct: float = 0.0
    more_cpu_pct: dict[str, float] = field(default_factory=dict)  # Rig.more_meters()'s
    max_stall_ms: float = 0.0
    host_probe_ms: dict[str, float] = field(default_factory=dict)  # bench/hostspeed.py
    gc_max_ms: float | None = None  # dispatchwire only: its longest GC pause in the step
    gc_full: int | None = None  # and its full collections
    gc_by_generation: dict[str, dict[str, float]] = field(default_factory=dict)  # every one
    held: bool = False
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    by_half_second: list[tuple[int, float]] = field(default_factory=list, repr=False)


async def run_step(rig: Rig, rate: int, duration_s: float) -> Step:
    at_once = rig.options.free_masters == "cancel"
    if not at_once:  # every order holds a master until the step ends: use at most half of them
        duration_s = min(duration_s, rig.fleet.n / 2 / rate)
    step = Step(rate=rate, planned_s=duration_s)
    book = OrderBook(rig, cancel_at_once=at_once)
    rig.fleet.sink = book
    receipts_before = await socket_receipts(rig)
    meters = rig.meters()
    total = max(1, round(rate * duration_s))
    start = time.perf_counter()
    while step.sent < total:
        now = time.perf_counter()
        due = min(total, int((now - start) * rate) + 1)
        while step.sent < due:
            book.place(rig.next_seq, start + step.sent / rate)
            rig.next_seq += 1
            step.sent += 1
        if book.oldest_wait(now) > GIVE_UP_AFTER_S:
            step.gave_up = True
            break
        await asyncio.sleep(TICK_S)
    step.sending_s = time.perf_counter() - start
    step.server_cpu_pct = meters.server.percent()
    step.generator_cpu_pct = meters.generator.percent()
    step.more_cpu_pct = {name: meter.percent() for name, meter in meters.more.items()}
    step.throughput_per_s = round(len(book.arrived) / step.sending_s, 1)
    step.max_stall_ms = rig.canary.window()
    step.host_probe_ms = rig.host.window()
    step.gc_max_ms, step.gc_full = rig.gc_pauses(meters).values()
    step.gc_by_generation = rig.gc_generations(meters)
    if step.gave_up:
        step.dropped = rig.pool.drop_queued()
    await _drain(rig, book, BACKLOG_DRAIN_S if step.gave_up else DRAIN_S)
    _settle(rig, book, step)
    step.server_receipt = bucket_summary(receipts_before, await socket_receipts(rig))
    if not at_once:  # free the masters, untimed, before the next step
        for seq, (_, _, order_id) in book.offers.items():
            book.cancel(seq, order_id)
        await until(lambda: rig.pool.idle, BETWEEN_STEPS_S)
    return step


async def _drain(rig: Rig, book: OrderBook, within_s: float) -> None:
    """Wait for the offers of placed orders and for every request to be answered."""
    await until(lambda: book.settled() and rig.pool.idle, within_s)
    await asyncio.sleep(0.2)  # a last cancel's answer, a straggling duplicate


def _settle(rig: Rig, book: OrderBook, step: Step) -> None:
    latencies = book.latencies()
    step.by_half_second = book.by_half_second()
    step.placed = len(book.placed)
    step.offers = len(book.arrived)
    step.lost = sum(1 for seq in book.placed if seq not in book.arrived)
    step.misrouted = book.misrouted()
    step.duplicates = book.duplicates
    step.fanned = book.fanned
    step.http_errors = dict(book.http_errors)
    step.refused = book.refused
    step.cancel_errors = sum(book.cancel_errors.values())
    step.latency = summarize(latencies)
    step.latencies_ms = [round(x * 1000, 3) for x in latencies]
    step.receipt = summarize(book.receipt_latencies())
    step.server_rss_mib = round(rss_bytes(rig.server.pid) / 2**20, 1)
    p99 = step.latency["p99_ms"]
    step.held = (not step.gave_up and step.lost == 0 and step.misrouted == 0
                 and not step.http_errors and not step.refused and p99 is not None
                 and p99 <= rig.options.p99_limit_ms)


async def run_past_the_limit(rig: Rig, steps: list[Step], say: Any) -> Step | None:
    """One step at twice the most offers/s any step delivered, if the ladder found a limit:
    how much the server still completes there, how fast, and how it refuses the rest."""
    if not steps or all(step.held for step in steps):
        return None
    saturation = max(step.throughput_per_s for step in steps)
    step = await run_step(rig, max(1, round(2 * saturation)), rig.options.step_s)
    say(_describe(rig, step) + f" (past the limit: twice the {saturation}/s most)")
    return step


async def refine(steps: list[Step], rungs: int, run_at: Callable[[int], Awaitable[Step]]
                 ) -> None:
    """Between the last rate held and the first that failed (a ladder's rungs double), try
    `rungs` rates more, each halving the gap: so that a limit is told to a quarter of its rung
    rather than a half, and two systems' ratio is not the ladder's. Appends to `steps`."""
    held = [step.rate for step in steps if step.held]
    failed = [step.rate for step in steps if not step.held]
    if not held or not failed:
        return
    low, high = max(held), min(failed)
    for _ in range(rungs):
        rate = (low + high) // 2
        if rate in (low, high):
            return
        step = await run_at(rate)
        steps.append(step)
        low, high = (rate, high) if step.held else (low, rate)


async def run_ladder(rig: Rig, say: Any) -> list[Step]:
    """Climb the rates until a step fails, then refine between the last two rungs. If the
    first fails, probe below it instead (at most PROBES steps, from 70% of the throughput it
    reached, halving) for a rate that holds."""
    steps: list[Step] = []
    for rate in rig.options.rates:
        step = await run_step(rig, rate, rig.options.step_s)
        steps.append(step)
        say(_describe(rig, step))
        if not step.held:
            break
    if not steps or steps[0].held:
        await refine(steps, rig.options.refine, functools.partial(_refining, rig, say))
        return steps
    probe = int(steps[0].throughput_per_s * 0.7)
    for _ in range(PROBES):
        if probe < 1:
            break
        step = await run_step(rig, probe, rig.options.step_s)
        steps.append(step)
        say(_describe(rig, step) + " (a probe below the ladder)")
        if step.held:
            break
        probe = min(probe // 2, int(step.throughput_per_s * 0.7))
    return steps


async def _refining(rig: Rig, say: Any, rate: int) -> Step:
    step = await run_step(rig, rate, rig.options.step_s)
    say(_describe(rig, step) + " (between the last two rungs)")
    return step


def _describe(rig: Rig, step: Step) -> str:
    system = rig.system + (f" (K = {rig.fanout})" if rig.fanout > 1 else "")
    fanned = f" (and {step.fanned} more offers of them)" if rig.fanout > 1 else ""
    lat = step.latency
    verdict = "held" if step.held else "FAILED" + (" (gave up)" if step.gave_up else "")
    receipt = (f"; receipt (POST -> ack) p50 {step.receipt['p50_ms']} p99 "
               f"{step.receipt['p99_ms']} ms" if step.receipt.get("count") else "")
    return (f"  {system} dispatch {step.rate}/s: {verdict}; p50 {lat['p50_ms']} p99 "
            f"{lat['p99_ms']} max {lat['max_ms']} ms{receipt}; offers {step.offers}/{step.placed} "
            f"placed{fanned}, lost {step.lost}, misrouted {step.misrouted}, errors "
            f"{step.http_errors}, refused (503) {step.refused}; "
            f"throughput {step.throughput_per_s}/s; server CPU {step.server_cpu_pct}%, "
            f"generator CPU {step.generator_cpu_pct}%, max stall {step.max_stall_ms} ms"
            f"{describe(step.host_probe_ms)}")
