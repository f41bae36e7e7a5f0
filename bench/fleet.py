"""The masters' sockets (picows): connect, `auth`, `subscribe_assignments`, ping, ack, reconnect.

One `Fleet` holds N sockets in the generator's process. Frames are parsed with orjson and
offers go to the current `sink` (the running scenario) with their arrival time. Like the seed's
app, every master sends an application `ping` every 45 s (spread over the interval) and answers
the server's protocol pings. After a server restart the masters reconnect, all at once when
told to, authenticating with the `lastEventId` they last saw.

With `acks` (dispatchwire: its own apps ack, the seed's do not), each master authenticates with
`"acks": true` and acks every event once the sink has handled it, as the real apps do:
cumulatively, one `ack` of the newest per socket for all the frames handled in one pass of the
loop. The sink hears when each offer's ack was written (`on_acked`): the delivery receipt's
time, as the generator sees it.
"""

import asyncio
import random
import time
from collections import Counter
from typing import Any, Protocol

import orjson
from picows import WSError, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

__all__ = ["Fleet", "Sink"]

HANDSHAKE_TIMEOUT_S = 60.0  # a connect storm queues handshakes for seconds
APP_PING_S = 45.0  # the seed's apps ping every 45 s
PING_TICK_S = 0.25
SUBSCRIBE = orjson.dumps({"type": "subscribe_assignments"})
PING = orjson.dumps({"type": "ping"})
CONNECT_ERRORS = (OSError, TimeoutError, WSError)


class Sink(Protocol):
    def on_offer(self, index: int, assignment: dict[str, Any], at: float) -> None: ...

    def on_acked(self, index: int, assignment: dict[str, Any], at: float) -> None: ...


class _Master(WSListener):  # type: ignore[misc]
    def __init__(self, fleet: "Fleet", index: int) -> None:
        self.fleet = fleet
        self.index = index

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.fleet.on_connected(self.index, transport)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            self.fleet.on_message(self.index, orjson.loads(frame.get_payload_as_bytes()),
                                  time.perf_counter())

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.fleet.on_disconnected(self.index, transport)


class Fleet:
    """N master sockets; `subscribed` counts those whose subscription the server confirmed."""

    def __init__(self, url: str | list[str], tokens: list[str], *, acks: bool = False) -> None:
        # several servers (a cluster's nodes): master i connects to urls[i % len(urls)]
        self.urls = [url] if isinstance(url, str) else url
        self.tokens = tokens
        self.acks = acks
        self.acks_sent = 0
        self._ack_due: dict[int, int] = {}  # socket -> the newest eventId handled, to ack
        self._offers_acked: list[tuple[int, dict[str, Any]]] = []  # go with the next acks
        self.n = len(tokens)
        self.transports: list[WSTransport | None] = [None] * self.n
        self.last_event = [0] * self.n
        self.is_subscribed = [False] * self.n
        self.subscribed_at = [0.0] * self.n
        self.subscribed = 0
        self.resume = False  # authenticate with lastEventId
        self.sink: Sink | None = None
        self.errors: Counter[str] = Counter()
        self.connect_failures = 0  # attempts that ended before `subscribed_assignments`
        self.drops = 0  # subscribed sockets that the server closed or lost
        self.dropped: set[int] = set()  # the masters whose socket went so, since last cleared
        self._outcome: list[asyncio.Future[bool] | None] = [None] * self.n
        self._all = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._connecting: set[asyncio.Task[None]] = set()

    # -- events from the sockets ------------------------------------------------------------

    def on_connected(self, index: int, transport: WSTransport) -> None:
        self.transports[index] = transport
        auth: dict[str, Any] = {"type": "auth", "token": self.tokens[index]}
        if self.acks:
            auth["acks"] = True
        if self.resume:
            auth["lastEventId"] = self.last_event[index]
        transport.send(WSMsgType.TEXT, orjson.dumps(auth))

    def on_message(self, index: int, message: dict[str, Any], at: float) -> None:
        kind = message.get("type")
        event_id = message.get("eventId")
        if event_id is not None and event_id > self.last_event[index]:
            self.last_event[index] = event_id
        if self.acks and event_id is not None:
            # The ack goes out on the loop's next pass: after the sink has handled the frame
            # (below, synchronously), before anything the sink queued (its cancel) is written.
            self._handled(index, event_id, message["assignment"]
                          if kind == "new_assignment" else None)
        if kind == "new_assignment":
            if self.sink is not None:
                self.sink.on_offer(index, message["assignment"], at)
        elif kind == "auth_success":
            transport = self.transports[index]
            if transport is not None:
                transport.send(WSMsgType.TEXT, SUBSCRIBE)
        elif kind == "subscribed_assignments" and not self.is_subscribed[index]:
            self.is_subscribed[index] = True
            self.subscribed_at[index] = at
            self.subscribed += 1
            self._settle(index, True)
            if self.subscribed == self.n:
                self._all.set()
        elif kind in ("auth_error", "error"):
            self.errors[f"{kind}:{message.get('code') or message.get('message')}"] += 1

    def _handled(self, index: int, event_id: int, offer: dict[str, Any] | None) -> None:
        if not self._ack_due:
            asyncio.get_running_loop().call_soon(self._send_acks)
        if event_id > self._ack_due.get(index, 0):
            self._ack_due[index] = event_id
        if offer is not None:
            self._offers_acked.append((index, offer))

    def _send_acks(self) -> None:
        """One cumulative `ack` per socket for what was handled in this pass of the loop."""
        due, self._ack_due = self._ack_due, {}
        offers, self._offers_acked = self._offers_acked, []
        for index, event_id in due.items():
            transport = self.transports[index]
            if transport is not None:
                transport.send(WSMsgType.TEXT, b'{"type":"ack","eventId":%d}' % event_id)
                self.acks_sent += 1
        at = time.perf_counter()
        if self.sink is not None:
            for index, offer in offers:
                if self.transports[index] is not None:
                    self.sink.on_acked(index, offer, at)

    def on_disconnected(self, index: int, transport: WSTransport) -> None:
        if self.transports[index] is not transport:
            return
        self.transports[index] = None
        self._settle(index, False)
        if self.is_subscribed[index]:
            self.is_subscribed[index] = False
            self.subscribed -= 1
            self.drops += 1
            self.dropped.add(index)
            self._all.clear()

    def _settle(self, index: int, subscribed: bool) -> None:
        outcome = self._outcome[index]
        if outcome is not None and not outcome.done():
            outcome.set_result(subscribed)

    # -- commands ---------------------------------------------------------------------------

    async def connect(self, *, concurrency: int | None, timeout_s: float) -> float:
        """Connect every socket not connected (`concurrency` handshakes at a time, or all at
        once); seconds until all were subscribed. TimeoutError if they were not in time."""
        started = time.perf_counter()
        for task in self._connecting:  # an earlier call's retries must not meddle
            task.cancel()
        await asyncio.gather(*self._connecting, return_exceptions=True)
        limit = asyncio.Semaphore(concurrency or self.n)
        deadline = time.monotonic() + timeout_s
        for index in range(self.n):
            if self.is_subscribed[index]:
                continue
            transport = self.transports[index]
            if transport is not None:  # connected but never subscribed: start over
                self.transports[index] = None
                transport.disconnect()
            task = asyncio.create_task(self._connect(index, limit, deadline))
            self._connecting.add(task)
            task.add_done_callback(self._connecting.discard)
        await asyncio.wait_for(self._all.wait(), timeout_s)
        return time.perf_counter() - started

    async def _connect(self, index: int, limit: asyncio.Semaphore, deadline: float) -> None:
        """Connect one master and retry, as an app does, until the server confirms its
        subscription: a socket the server closes during auth (a busy database, say) counts."""
        delay = 0.25
        while time.monotonic() < deadline:
            outcome = self._outcome[index] = asyncio.get_running_loop().create_future()
            try:
                async with limit:  # held until subscribed: `concurrency` masters in flight
                    await ws_connect(lambda: _Master(self, index),
                                     self.urls[index % len(self.urls)],
                                     websocket_handshake_timeout=HANDSHAKE_TIMEOUT_S,
                                     read_buffer_init_size=1024)
                    if await asyncio.wait_for(outcome, HANDSHAKE_TIMEOUT_S):
                        return
            except CONNECT_ERRORS:
                transport = self.transports[index]
                if transport is not None:  # connected but never subscribed in time
                    transport.disconnect()
            self.connect_failures += 1
            await asyncio.sleep(random.uniform(0.5, 1.5) * delay)  # jittered, as apps do
            delay = min(delay * 2, 4.0)

    def subscribed_times(self) -> list[float]:
        return list(self.subscribed_at)

    def start_pinging(self) -> None:
        """The seed's application ping, every 45 s per master, spread over the interval."""
        self._spawn(self._ping_forever())

    async def _ping_forever(self) -> None:
        slots = round(APP_PING_S / PING_TICK_S)
        tick = 0
        while True:
            await asyncio.sleep(PING_TICK_S)
            for index in range(tick % slots, self.n, slots):
                transport = self.transports[index]
                if transport is not None and self.is_subscribed[index]:
                    transport.send(WSMsgType.TEXT, PING)
            tick += 1

    async def close(self) -> None:
        tasks = [*self._tasks, *self._connecting]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for transport in self.transports:
            if transport is not None:
                transport.disconnect()

    def _spawn(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
