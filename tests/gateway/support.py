"""A real server on a free port (uvicorn, configured as `dispatchwire serve` does) and a
WebSocket test client that holds every frame it receives against docs/asyncapi.yaml."""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from dispatchwire.app import create_app
from dispatchwire.http.server import uvicorn_config
from dispatchwire.settings import Settings
from tests.conftest import Api, Person
from tests.gateway.asyncapi import check_frame
from tests.pg import free_port

__all__ = ["Live", "WsClient", "serving"]


@dataclass
class Live:
    """A server listening on a real port: its REST helpers (`api`) and its `/ws` address."""

    api: Api
    ws_url: str
    http_url: str
    app: Any = None  # the application served

    def socket(self, **options: Any) -> "WsClient":
        return WsClient(self.ws_url, **options)

    async def master_socket(self, master: Person, *, acks: bool = False, **options: Any
                            ) -> "WsClient":
        """A master's socket: connected, authenticated (saying it acks, with `acks`) and
        subscribed."""
        ws = await self.socket(**options).connect()
        await (ws.auth(master, acks=True) if acks else ws.auth(master))
        await ws.send({"type": "subscribe_assignments"})
        assert (await ws.recv())["type"] == "subscribed_assignments"
        return ws


@contextlib.asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[Live]:
    """Run the app under uvicorn on a free port, in this event loop."""
    port = free_port()
    app = create_app(settings)
    server = uvicorn.Server(uvicorn_config(app, settings, port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("server stopped before it started")
        await asyncio.sleep(0.01)
    http_url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=http_url, timeout=10) as client:
            yield Live(Api(client, app.state.ctx), f"ws://127.0.0.1:{port}/ws", http_url, app)
    finally:
        server.should_exit = True
        await task


class WsClient:
    """One test socket. `recv` checks each frame against the AsyncAPI document."""

    def __init__(self, url: str, **options: Any) -> None:
        self.url = url
        self.options = {"open_timeout": 5, "ping_interval": None, **options}
        self.conn: ClientConnection | None = None
        self.received: list[dict[str, Any]] = []

    async def connect(self) -> "WsClient":
        self.conn = await connect(self.url, **self.options)
        return self

    async def __aenter__(self) -> "WsClient":
        return await self.connect() if self.conn is None else self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()

    async def send(self, message: dict[str, Any] | str | bytes) -> None:
        assert self.conn is not None
        await self.conn.send(message if isinstance(message, str | bytes) else json.dumps(message))

    async def recv(self, timeout: float = 3.0) -> dict[str, Any]:
        """The next frame, checked against docs/asyncapi.yaml."""
        assert self.conn is not None
        async with asyncio.timeout(timeout):
            raw = await self.conn.recv()
        frame = json.loads(raw)
        check_frame(frame)
        self.received.append(frame)
        return frame

    async def recv_until(self, kind: str, timeout: float = 3.0) -> dict[str, Any]:
        """Skip frames until one of type `kind` arrives."""
        async with asyncio.timeout(timeout):
            while (frame := await self.recv(timeout)).get("type") != kind:
                pass
        return frame

    async def no_frame(self, within: float = 0.3) -> None:
        """Assert that nothing arrives for `within` seconds."""
        with contextlib.suppress(TimeoutError):
            frame = await self.recv(within)
            raise AssertionError(f"expected no frame, got {frame}")

    async def auth(self, person: Person, **fields: Any) -> dict[str, Any]:
        await self.send({"type": "auth", "token": person.token, **fields})
        frame = await self.recv()
        assert frame["type"] == "auth_success", frame
        return frame

    async def closed(self, timeout: float = 5.0) -> tuple[int | None, str]:
        """Read (and check) frames until the server closes; the close code and reason."""
        assert self.conn is not None
        try:
            async with asyncio.timeout(timeout):
                while True:
                    await self.recv(timeout)
        except ConnectionClosed as exc:
            received = exc.rcvd
            return (received.code, received.reason) if received else (None, "")
