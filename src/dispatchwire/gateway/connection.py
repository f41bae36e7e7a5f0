"""One socket: who it belongs to, where it is in its user's events, and its bounded backlog."""

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from dispatchwire.actors import Actor
from dispatchwire.gateway.metrics import CLOSED, DELIVERY_LATENCY, FRAMES_OUT
from dispatchwire.gateway.protocol import OFFER_TYPES, Close

__all__ = ["Connection", "Transport"]

log = logging.getLogger(__name__)
_socket_ids = itertools.count(1)

# A frame waiting for the peer to read: its text, its message type, and when its event was
# stored (live events).
_Waiting = tuple[str, str, float | None]


@dataclass(frozen=True, slots=True)
class _CloseAfterSending:
    code: int
    message: str


@dataclass(frozen=True, slots=True)
class _PingAfterSending:
    payload: bytes


class Transport(Protocol):
    """The I/O under a connection: the gateway needs no more of a WebSocket."""

    @property
    def writable(self) -> bool:
        """False while the peer is not reading fast enough (TCP flow control)."""

    def send_text(self, text: str) -> None: ...

    def ping(self, payload: bytes) -> None:
        """Send a WebSocket ping; its pong comes back through the session (`ponged`)."""

    def close(self, code: int, reason: str) -> None: ...

    def drop(self, reason: str) -> None:
        """The peer is gone without a word: abort, as a keepalive timeout does."""


class Connection:
    """A socket's state, and its frames in order.

    A frame is written at once while the peer keeps up. While the peer's TCP buffer is full,
    frames wait in `backlog`, which is bounded: a live frame that finds it full means the client
    stopped reading, and the socket is cut off rather than made to hold an ever longer backlog.
    """

    __slots__ = ("_room", "acks", "actor", "backlog", "closing", "cursor",
                 "missed_live", "offers_live", "opened_at", "pings", "pong_deadline",
                 "queue_size", "reading_stored", "socket_id", "subscribed", "tasks",
                 "transport", "unacked", "unponged")

    def __init__(self, transport: Transport, *, queue_size: int) -> None:
        self.socket_id = next(_socket_ids)
        self.transport = transport
        # Made when first needed, and let go once written: an empty deque costs ~0.75 KiB, and
        # most sockets never wait (docs/performance.md, memory per socket).
        self.backlog: deque[_Waiting | _CloseAfterSending | _PingAfterSending] | None = None
        self.queue_size = queue_size
        self.actor: Actor | None = None
        # Where the socket is in its user's events, and how it gets the next ones (hub.py):
        self.cursor = 0  # the newest of the user's event ids this socket has dealt with
        self.reading_stored = True  # the hub reads stored events for it; live ones wait
        self.missed_live = False  # a live event came meanwhile: the hub reads once more
        self.offers_live = False  # offers are sent live (subscribed, or resuming)
        # Receipts (gateway/receipts.py): offers written and not yet proven to have arrived.
        self.acks = False  # the client acks (declared, or has acked): else pongs prove receipt
        self.unacked: deque[tuple[int, int]] | None = None  # (event id, offer id)
        self.unponged: deque[tuple[bytes, int, float]] | None = None  # (ping, offer, sent at)
        self.pong_deadline: asyncio.TimerHandle | None = None
        self.pings = 0
        self.subscribed = False
        self.closing = False
        self.opened_at = time.monotonic()
        self.tasks: set[asyncio.Task[None]] | None = None  # made by the first `spawn`
        self._room: asyncio.Future[None] | None = None  # resolved when the backlog shrinks

    @property
    def user_id(self) -> int | None:
        return self.actor.user_id if self.actor else None

    @property
    def waiting(self) -> int:
        """How many frames (and closes or pings) wait for the peer to read."""
        return len(self.backlog) if self.backlog is not None else 0

    @property
    def backlogged(self) -> bool:
        return self.waiting >= self.queue_size

    def wants(self, event_type: str) -> bool:
        return self.offers_live or event_type not in OFFER_TYPES

    def send(self, text: str, kind: str, stored_at: float | None = None) -> None:
        """Write a frame, or keep it while the peer catches up; a full backlog cuts it off."""
        if self.closing:
            return
        if not self.backlog and self.transport.writable:
            self._write(text, kind, stored_at)
        elif self.backlogged:
            self.close(Close.SLOW_READER, "send queue full: the client is not reading",
                       reason="slow_reader")
        else:
            self._keep((text, kind, stored_at))

    def ping_after_sending(self) -> bytes:
        """Ping the peer once what was sent so far has been written; the ping's payload.

        The pong can only come after the peer read everything written before the ping."""
        self.pings += 1
        payload = b"o" + self.pings.to_bytes(4, "big")  # 5 bytes: never a keepalive's 4
        if not self.closing:
            if not self.backlog and self.transport.writable:
                self.transport.ping(payload)
            else:
                self._keep(_PingAfterSending(payload))
        return payload

    async def send_waiting(self, text: str, kind: str, *, within: float) -> None:
        """Send a frame, waiting up to `within` seconds for room (replays, which may be long)."""
        try:
            async with asyncio.timeout(within):
                while self.backlogged and not self.closing:
                    if self._room is None or self._room.done():
                        self._room = asyncio.get_running_loop().create_future()
                    await asyncio.shield(self._room)
        except TimeoutError:
            self.close(Close.SLOW_READER, "send queue full: the client is not reading",
                       reason="slow_reader")
            return
        self.send(text, kind)

    def writable_again(self) -> None:
        """The peer read enough: write what waited, in order, while it keeps reading."""
        while self.backlog and self.transport.writable:
            item = self.backlog.popleft()
            if isinstance(item, _CloseAfterSending):
                self.backlog = None
                self.transport.close(item.code, item.message)
                break
            if isinstance(item, _PingAfterSending):
                self.transport.ping(item.payload)
                continue
            self._write(*item)
        if not self.backlog:
            self.backlog = None
        if self._room is not None and not self._room.done() and not self.backlogged:
            self._room.set_result(None)

    def close(self, code: int, message: str, *, reason: str) -> None:
        """Close the socket once, after the frames that wait; the socket's end cleans up.

        A client that stopped reading would hold the close behind its backlog for ever, so
        with a full backlog the close goes out at once and the backlog is dropped.
        """
        if self.closing:
            return
        self.closing = True
        CLOSED.labels(reason).inc()
        log.info("closing socket %s of user %s: %s (%s)", self.socket_id, self.user_id,
                 message, code)
        if self.backlog and not self.backlogged:
            self.backlog.append(_CloseAfterSending(code, message[:120]))
        else:
            self.backlog = None
            self.transport.close(code, message[:120])

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` for this socket; it is cancelled when the socket ends."""
        task = asyncio.create_task(work)
        if self.tasks is None:
            self.tasks = set()
        self.tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: "asyncio.Task[None]") -> None:
        if self.tasks is not None:
            self.tasks.discard(task)
            if not self.tasks:
                self.tasks = None  # an empty set is ~0.2 KiB, on every socket

    def stop(self) -> None:
        """The socket is gone: cancel its timer and every task it started."""
        self.closing = True
        self.backlog = None
        if self.pong_deadline is not None:
            self.pong_deadline.cancel()
        self.pong_deadline = None  # a handle may hold its callback's owner
        if self._room is not None and not self._room.done():
            self._room.set_result(None)
        for task in list(self.tasks or ()):
            task.cancel()

    def _keep(self, item: "_Waiting | _CloseAfterSending | _PingAfterSending") -> None:
        if self.backlog is None:
            self.backlog = deque()
        self.backlog.append(item)

    def _write(self, text: str, kind: str, stored_at: float | None) -> None:
        self.transport.send_text(text)
        FRAMES_OUT.inc(kind)
        if stored_at is not None:
            DELIVERY_LATENCY.observe(max(0.0, time.time() - stored_at))
