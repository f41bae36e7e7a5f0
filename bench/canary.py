"""A canary socket measuring the server's event-loop stalls from the outside.

It authenticates as a client and sends a protocol ping every 10 ms. Both servers answer pings
where they read the socket, so a pong that comes late means the server's loop was busy with
something else (a long callback, a full garbage collection) for about that long. Control frames
are not application messages: the servers' rate limits do not apply to them.
"""

import asyncio
import contextlib
import time

import orjson
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from bench.fleet import CONNECT_ERRORS

__all__ = ["Canary"]

INTERVAL_S = 0.010


class _Probe(WSListener):  # type: ignore[misc]
    def __init__(self, canary: "Canary") -> None:
        self.canary = canary

    def on_ws_connected(self, transport: WSTransport) -> None:
        transport.send(WSMsgType.TEXT, orjson.dumps({"type": "auth", "token": self.canary.token}))
        self.canary.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.PONG:
            self.canary.on_pong(int.from_bytes(frame.get_payload_as_bytes(), "big"))

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if self.canary.transport is transport:
            self.canary.transport = None


class Canary:
    """Pings every 10 ms; `window()` gives the longest delay seen since the previous call."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.transport: WSTransport | None = None
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
            self._seq += 1
            self._sent[self._seq] = time.perf_counter()
            self.transport.send_ping(self._seq.to_bytes(8, "big"))
            await asyncio.sleep(INTERVAL_S)
