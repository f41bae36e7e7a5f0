"""A canary socket measuring the server's event-loop stalls from the outside.

It authenticates as a client and, once authenticated, sends a protocol ping every 10 ms (while
a storm's auths queue, dispatchwire holds each socket's reading until its turn: that wait is
queueing, not a stall, and is not counted). Both servers answer pings
where they read the socket, so a pong that comes late means the server's loop was busy with
something else (a long callback, a full garbage collection) for about that long. Control frames
are not application messages: the servers' rate limits do not apply to them.
"""

import asyncio
import contextlib
import sys
import time

import orjson
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from bench.fleet import CONNECT_ERRORS

__all__ = ["Canary"]

INTERVAL_S = 0.010


class _Probe(WSListener):  # type: ignore[misc]
    def __init__(self, canary: "_Pinger") -> None:
        self.canary = canary

    def on_ws_connected(self, transport: WSTransport) -> None:
        transport.send(WSMsgType.TEXT, orjson.dumps({"type": "auth", "token": self.canary.token}))
        self.canary.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.PONG:
            self.canary.on_pong(int.from_bytes(frame.get_payload_as_bytes(), "big"))
        elif frame.msg_type == WSMsgType.TEXT and b'"auth_success"' in frame.get_payload_as_bytes():
            self.canary.live = True

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if self.canary.transport is transport:
            self.canary.transport = None
            self.canary.live = False


class _Pinger:
    """Pings every 10 ms; `window()` gives the longest delay seen since the previous call."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.transport: WSTransport | None = None
        self.live = False  # authenticated: pings are sent only then (see _run)
        self._seq = 0
        self._sent: dict[int, float] = {}
        self._worst = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.transport is not None:
            self.transport.disconnect()

    def on_pong(self, seq: int) -> None:
        sent = self._sent.pop(seq, None)
        if sent is not None:
            self._worst = max(self._worst, time.perf_counter() - sent)

    def window(self) -> float:
        """The longest stall (ms) since the last call: late pongs and pings still unanswered."""
        now = time.perf_counter()
        waiting = max((now - sent for sent in self._sent.values()), default=0.0)
        worst, self._worst = max(self._worst, waiting), 0.0
        return round(worst * 1000, 1)

    async def _run(self) -> None:
        while True:
            if self.transport is None:
                self._sent.clear()  # pings to a server that went away are no stall
                try:
                    await ws_connect(lambda: _Probe(self), self.url, websocket_handshake_timeout=30)
                except CONNECT_ERRORS:
                    await asyncio.sleep(0.05)
                    continue
            if not self.live:
                # The time until authenticated is no stall: dispatchwire holds a socket's
                # reading while its auth waits for a turn to read the database (behind a
                # storm's thousands), and the pongs with it.
                await asyncio.sleep(INTERVAL_S)
                continue
            self._seq += 1
            self._sent[self._seq] = time.perf_counter()
            self.transport.send_ping(self._seq.to_bytes(8, "big"))
            await asyncio.sleep(INTERVAL_S)


class Canary:
    """The pinger in a process of its own (on the generator's core).

    In the generator's process it shared an event loop with 10,000 reconnecting masters, and
    that loop's own busy passes during a storm (0.5-0.7 s, for either server) read as server
    stalls. The child reports every 50 ms: whether it is connected, and its `window()`.
    """

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.connected = False
        self._worst = 0.0
        self._child: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.canary", self.url, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE)
        assert self._child.stdin is not None
        self._child.stdin.write(self.token.encode() + b"\n")  # not on the command line
        self._reader = asyncio.create_task(self._read())

    async def stop(self) -> None:
        if self._child is not None and self._child.returncode is None:
            self._child.terminate()
            await self._child.wait()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    def window(self) -> float:
        """The longest stall (ms) reported since the last call."""
        worst, self._worst = self._worst, 0.0
        return worst

    async def _read(self) -> None:
        assert self._child is not None and self._child.stdout is not None
        async for line in self._child.stdout:
            connected, worst = line.split()
            self.connected = connected == b"1"
            self._worst = max(self._worst, float(worst))


async def _report_forever(url: str, token: str) -> None:
    pinger = _Pinger(url, token)
    pinger.start()
    while True:
        await asyncio.sleep(0.05)
        sys.stdout.write(f"{int(pinger.transport is not None)} {pinger.window()}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    import uvloop

    uvloop.run(_report_forever(sys.argv[1], sys.stdin.readline().strip()))
