"""The soak's masters (picows): they ack like the apps, resume, reconnect, and keep the books.

Each master authenticates with `"acks": true` and `lastEventId` (0 the first time: seeded users
have no events yet, so every master's stream is checked from its first event), subscribes,
acks every event it receives, answers the server's protocol pings (picows does), and sends an
application `ping` every 45 s. The fleet checks each master's stream as it comes: every
`eventId` must be the one after the last (a gap is an event lost, a repeat one sent twice), and
a resume must never be answered `recovered: false` (the retention is far longer than a
reconnect takes). Offers go to `on_offer`; `churn()` drops a share of the live masters every
second and brings them back after a moment, resuming.
"""

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from bench.fleet import APP_PING_S, CONNECT_ERRORS, HANDSHAKE_TIMEOUT_S, PING, PING_TICK_S

__all__ = ["SoakFleet"]

SUBSCRIBE = orjson.dumps({"type": "subscribe_assignments"})
RECONNECT_AFTER_S = (0.5, 3.0)  # a dropped master comes back after this long (uniform)

OfferSink = Callable[[int, dict[str, Any]], None]  # (master index, assignment)


class _Socket(WSListener):  # type: ignore[misc]
    def __init__(self, fleet: "SoakFleet", index: int) -> None:
        self.fleet, self.index = fleet, index

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.fleet.connected(self.index, transport)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            self.fleet.frame(self.index, transport, orjson.loads(frame.get_payload_as_bytes()))

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.fleet.disconnected(self.index, transport)


class SoakFleet:
    """N masters. `token(index)` mints a master's token (a fresh one at every connect)."""

    def __init__(self, url: str, n: int, token: Callable[[int], str], on_offer: OfferSink
                 ) -> None:
        self.url, self.n, self.token, self.on_offer = url, n, token, on_offer
        self.transports: list[WSTransport | None] = [None] * n
        self.live = [False] * n
        self.last_event = [0] * n
        self.offers: list[set[int]] = [set() for _ in range(n)]  # offer ids each one received
        self.counts: Counter[str] = Counter()  # events, acks, gaps, duplicates, ...
        self.errors: Counter[str] = Counter()
        self._wanted = [True] * n  # False while a churned master is meant to be away
        self._connecting = [False] * n  # a connect loop runs for it
        self._outcome: list[asyncio.Future[None] | None] = [None] * n  # subscribed, or gone
        self._churn: asyncio.Task[None] | None = None
        self._all_live = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def live_count(self) -> int:
        return sum(self.live)

    # -- the sockets' events ----------------------------------------------------------------

    def connected(self, index: int, transport: WSTransport) -> None:
        self.transports[index] = transport
        auth = {"type": "auth", "token": self.token(index), "acks": True,
                "lastEventId": self.last_event[index]}
        transport.send(WSMsgType.TEXT, orjson.dumps(auth))

    def frame(self, index: int, transport: WSTransport, message: dict[str, Any]) -> None:
        kind = message.get("type")
        event_id = message.get("eventId")
        if isinstance(event_id, int):
            self._event(index, transport, event_id, kind, message)
        elif kind == "auth_success":
            self.counts["resumes"] += 1
            if message.get("recovered") is not True:
                self.counts["not_recovered"] += 1
            transport.send(WSMsgType.TEXT, SUBSCRIBE)
        elif kind == "subscribed_assignments" and not self.live[index]:
            self.live[index] = True
            self._settle(index)
            if self.live_count == self.n:
                self._all_live.set()
        elif kind in ("auth_error", "error"):
            self.errors[f"{kind}:{message.get('code') or message.get('message')}"] += 1

    def _event(self, index: int, transport: WSTransport, event_id: int, kind: Any,
               message: dict[str, Any]) -> None:
        last = self.last_event[index]
        if event_id <= last:
            self.counts["duplicates"] += 1
            return
        if event_id != last + 1:
            self.counts["gaps"] += 1
            self.counts["events_skipped"] += event_id - last - 1
        self.last_event[index] = event_id
        self.counts["events"] += 1
        transport.send(WSMsgType.TEXT, orjson.dumps({"type": "ack", "eventId": event_id}))
        self.counts["acks"] += 1
        if kind == "new_assignment":
            offer = message["assignment"]
            self.offers[index].add(offer["id"])
            self.counts["offers"] += 1
            self.on_offer(index, offer)

    def disconnected(self, index: int, transport: WSTransport) -> None:
        if self.transports[index] is not transport:
            return
        self.transports[index] = None
        self.live[index] = False
        self._all_live.clear()
        self._settle(index)
        if self._wanted[index] and not self._connecting[index]:
            # Not one of ours: the server closed it, or the link died.
            self.counts["dropped_by_server"] += 1
            self._spawn(self._reconnect(index, delay=random.uniform(*RECONNECT_AFTER_S)))

    # -- commands ---------------------------------------------------------------------------

    def send(self, index: int, message: dict[str, Any]) -> bool:
        """A frame from master `index`, if his socket is live."""
        transport = self.transports[index]
        if transport is None or not self.live[index]:
            return False
        transport.send(WSMsgType.TEXT, orjson.dumps(message))
        return True

    async def connect_all(self, *, concurrency: int, timeout_s: float) -> float:
        """Connect every master; seconds until all are subscribed."""
        started = time.perf_counter()
        limit = asyncio.Semaphore(concurrency)
        for index in range(self.n):
            self._spawn(self._connect(index, limit))
        await asyncio.wait_for(self._all_live.wait(), timeout_s)
        return time.perf_counter() - started

    async def wait_all_live(self, timeout_s: float) -> bool:
        try:
            await asyncio.wait_for(self._all_live.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def _connect(self, index: int, limit: asyncio.Semaphore | None = None) -> None:
        """Connect until subscribed, retrying with jittered backoff as the apps do."""
        if self._connecting[index]:
            return
        self._connecting[index] = True
        delay = 0.25
        try:
            while self._wanted[index] and not self.live[index]:
                try:
                    if limit is None:
                        await self._open(index)
                    else:
                        async with limit:
                            await self._open(index)
                    if self.live[index]:
                        return
                except CONNECT_ERRORS:
                    self.counts["connect_errors"] += 1
                await asyncio.sleep(random.uniform(0.5, 1.5) * delay)
                delay = min(delay * 2, 4.0)
        finally:
            self._connecting[index] = False

    async def _open(self, index: int) -> None:
        outcome = self._outcome[index] = asyncio.get_running_loop().create_future()
        await ws_connect(lambda: _Socket(self, index), self.url,
                         websocket_handshake_timeout=HANDSHAKE_TIMEOUT_S,
                         read_buffer_init_size=1024)
        try:
            await asyncio.wait_for(outcome, HANDSHAKE_TIMEOUT_S)
        except TimeoutError:
            transport = self.transports[index]
            if transport is not None:  # connected but never subscribed in time
                transport.disconnect()

    def _settle(self, index: int) -> None:
        outcome = self._outcome[index]
        if outcome is not None and not outcome.done():
            outcome.set_result(None)

    async def _reconnect(self, index: int, *, delay: float) -> None:
        await asyncio.sleep(delay)
        self._wanted[index] = True
        self.counts["reconnects"] += 1
        await self._connect(index)

    def churn(self, share_per_minute: float) -> None:
        """Every second, drop `share_per_minute / 60` of the masters (live ones, at random)
        without a close frame, as a phone losing its network does; each comes back after
        RECONNECT_AFTER_S and resumes."""
        self._churn = asyncio.create_task(self._churn_forever(share_per_minute))

    async def _churn_forever(self, share_per_minute: float) -> None:
        owed = 0.0
        while True:
            await asyncio.sleep(1.0)
            owed += self.n * share_per_minute / 60
            live = [i for i in range(self.n) if self.live[i]]
            for index in random.sample(live, min(int(owed), len(live))):
                self._wanted[index] = False
                transport = self.transports[index]
                if transport is not None:
                    transport.disconnect()
                self.counts["churned"] += 1
                self._spawn(self._reconnect(index, delay=random.uniform(*RECONNECT_AFTER_S)))
            owed -= int(owed)

    def start_pinging(self) -> None:
        """The apps' `ping` every 45 s per master, spread over the interval."""
        self._spawn(self._ping_forever())

    async def _ping_forever(self) -> None:
        slots, tick = round(APP_PING_S / PING_TICK_S), 0
        while True:
            await asyncio.sleep(PING_TICK_S)
            for index in range(tick % slots, self.n, slots):
                transport = self.transports[index]
                if transport is not None and self.live[index]:
                    transport.send(WSMsgType.TEXT, PING)
            tick += 1

    def stop_churn(self) -> None:
        """Stop dropping masters (those away come back on their own)."""
        if self._churn is not None:
            self._churn.cancel()

    async def close(self) -> None:
        self.stop_churn()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for transport in self.transports:
            if transport is not None:
                transport.disconnect()

    def _spawn(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
