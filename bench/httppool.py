"""A lean HTTP/1.1 client for the load generator: a pool of keep-alive connections.

A general-purpose client (httpx, aiohttp) spends more CPU per request than the servers under
test spend on parts of theirs; this one writes prebuilt request bytes and reads one response
with a Content-Length (both servers send one), so thousands of requests a second cost the
generator's core little. Requests wait in one queue; each connection takes the next when free.
"""

import asyncio
import time
from collections.abc import Callable
from typing import cast

__all__ = ["Done", "HttpPool", "SpreadPool", "request_bytes"]

# Called with (status, body, when the request was written, when the response was complete);
# status 0 means no response (connection refused or lost, or timed out).
Done = Callable[[int, bytes, float, float], None]
TIMEOUT_S = 60.0


def request_bytes(method: str, path: str, token: str, body: bytes) -> bytes:
    head = (f"{method} {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection lost"))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or self.waiter is None:
            return
        head = bytes(self.buffer[:end])
        length = _content_length(head)
        if len(self.buffer) < end + 4 + length:
            return
        body = bytes(self.buffer[end + 4:end + 4 + length])
        del self.buffer[:end + 4 + length]
        if not self.waiter.done():
            self.waiter.set_result((int(head[9:12]), body))

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await asyncio.wait_for(self.waiter, TIMEOUT_S)


class HttpPool:
    """`size` keep-alive connections to one server, fed from one queue."""

    def __init__(self, port: int, size: int) -> None:
        self.port = port
        self.size = size
        self.queue: asyncio.Queue[tuple[bytes, Done, bool]] = asyncio.Queue()
        self.in_flight = 0
        self._workers: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._workers = [asyncio.create_task(self._work()) for _ in range(self.size)]

    def submit(self, request: bytes, done: Done, *, droppable: bool = False) -> None:
        self.queue.put_nowait((request, done, droppable))

    def drop_queued(self) -> int:
        """Forget droppable requests not yet written (a step given up); how many there were."""
        kept, dropped = [], 0
        while not self.queue.empty():
            item = self.queue.get_nowait()
            if item[2]:
                dropped += 1
            else:
                kept.append(item)
        for item in kept:
            self.queue.put_nowait(item)
        return dropped

    @property
    def idle(self) -> bool:
        return self.in_flight == 0 and self.queue.empty()

    @property
    def pools(self) -> list["HttpPool"]:
        """One pool per server (see SpreadPool): the one."""
        return [self]

    async def close(self) -> None:
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        conn: _Connection | None = None
        while True:
            request, done, _ = await self.queue.get()
            self.in_flight += 1
            written = time.perf_counter()
            try:
                if conn is None or conn.closed:
                    _, conn = await loop.create_connection(_Connection, "127.0.0.1", self.port)
                written = time.perf_counter()
                status, body = await conn.exchange(request)
            except (OSError, ConnectionError, TimeoutError) as exc:
                if conn is not None and conn.transport is not None:
                    conn.transport.abort()
                conn = None
                status, body = 0, str(exc).encode()
            self.in_flight -= 1
            done(status, body, written, time.perf_counter())


class SpreadPool:
    """Requests dealt in turn over several servers' pools (a cluster's nodes), as a load
    balancer in front of them would."""

    def __init__(self, ports: list[int], size: int) -> None:
        self.pools = [HttpPool(port, max(1, size // len(ports))) for port in ports]
        self._turn = 0

    def start(self) -> None:
        for pool in self.pools:
            pool.start()

    def submit(self, request: bytes, done: Done, *, droppable: bool = False) -> None:
        self._turn = (self._turn + 1) % len(self.pools)
        self.pools[self._turn].submit(request, done, droppable=droppable)

    def drop_queued(self) -> int:
        return sum(pool.drop_queued() for pool in self.pools)

    @property
    def idle(self) -> bool:
        return all(pool.idle for pool in self.pools)

    async def close(self) -> None:
        for pool in self.pools:
            await pool.close()
