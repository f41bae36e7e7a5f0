"""One socket: who it belongs to, where it is in its user's events, and its bounded outbox."""

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from dispatchwire.auth.service import Actor
from dispatchwire.gateway.metrics import CLOSED, DELIVERY_LATENCY, FRAMES_OUT
from dispatchwire.gateway.protocol import OFFER_TYPES, Close

__all__ = ["Connection", "Outgoing", "Transport"]

log = logging.getLogger(__name__)
_socket_ids = itertools.count(1)

# A frame to write: its text, its message type, and when its event was stored (live events).
Outgoing = tuple[str, str, float | None]


@dataclass(frozen=True, slots=True)
class _CloseAfterSending:
    code: int
    message: str


class Transport(Protocol):
    """The I/O under a connection: the gateway needs no more of a WebSocket library."""

    async def send(self, text: str) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


class Connection:
    """A socket's state. Frames leave only through `outbox`, in order, by one writer task.

    The outbox is bounded: a live frame that finds it full means the client stopped reading,
    and the socket is cut off rather than made to hold an ever longer backlog.
    """

    def __init__(self, transport: Transport, *, queue_size: int) -> None:
        self.socket_id = next(_socket_ids)
        self.transport = transport
        self.outbox: asyncio.Queue[Outgoing | _CloseAfterSending] = asyncio.Queue(queue_size)
        self.actor: Actor | None = None
        self.cursor = 0  # the newest of the user's event ids this socket has dealt with
        self.syncing = True  # reading stored events; live ones are left to the read
        self.dirty = False  # a live event came while syncing: read once more
        self.wants_offers = False  # offers are pushed live only when True
        self.subscribed = False
        self.closing = False
        self.opened_at = time.monotonic()
        self.tasks: set[asyncio.Task[None]] = set()
        self.expiry: asyncio.TimerHandle | None = None
        self._writer = asyncio.create_task(self._write_loop(), name=f"ws-writer-{self.socket_id}")

    @property
    def user_id(self) -> int | None:
        return self.actor.user_id if self.actor else None

    def wants(self, event_type: str) -> bool:
        return self.wants_offers or event_type not in OFFER_TYPES

    def send(self, text: str, kind: str, stored_at: float | None = None) -> None:
        """Queue a frame; a full outbox cuts the socket off."""
        if self.closing:
            return
        try:
            self.outbox.put_nowait((text, kind, stored_at))
        except asyncio.QueueFull:
            self.close(Close.SLOW_READER, "send queue full: the client is not reading",
                       reason="slow_reader")

    async def send_waiting(self, text: str, kind: str, *, within: float) -> None:
        """Queue a frame, waiting up to `within` seconds for room (replays, which may be long)."""
        try:
            async with asyncio.timeout(within):
                await self.outbox.put((text, kind, None))
        except TimeoutError:
            self.close(Close.SLOW_READER, "send queue full: the client is not reading",
                       reason="slow_reader")

    def close(self, code: int, message: str, *, reason: str) -> None:
        """Close the socket once, after the frames already queued; the receive loop cleans up.

        A client that stopped reading would hold the close behind its backlog for ever, so
        with a full outbox the close goes out at once (and the transport drops the backlog).
        """
        if self.closing:
            return
        self.closing = True
        CLOSED.labels(reason).inc()
        log.info("closing socket %s of user %s: %s (%s)", self.socket_id, self.user_id,
                 message, code)
        try:
            self.outbox.put_nowait(_CloseAfterSending(code, message[:120]))
        except asyncio.QueueFull:
            self.spawn(self.transport.close(code, message[:120]))

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` for this socket; it is cancelled when the socket ends."""
        task = asyncio.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def stop(self) -> None:
        """Cancel the writer and every task of this socket."""
        self.closing = True
        if self.expiry is not None:
            self.expiry.cancel()
        tasks = [self._writer, *self.tasks]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _write_loop(self) -> None:
        while True:
            item = await self.outbox.get()
            try:
                if isinstance(item, _CloseAfterSending):
                    await self.transport.close(item.code, item.message)
                    return
                text, kind, stored_at = item
                await self.transport.send(text)
            except Exception:  # the peer is gone; the receive loop sees it and cleans up
                return
            FRAMES_OUT.labels(kind).inc()
            if stored_at is not None:
                DELIVERY_LATENCY.observe(max(0.0, time.time() - stored_at))
