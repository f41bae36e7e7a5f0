"""A real TCP proxy between a test client and the server, which can go silent like a link in a
lift: it stops forwarding in both directions without closing anything (no FIN, no RST)."""

import asyncio
import contextlib
from collections.abc import AsyncIterator

__all__ = ["TcpProxy"]


class TcpProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.silent = False
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls, upstream_port: int) -> AsyncIterator["TcpProxy"]:
        proxy = cls(upstream_port)
        proxy._server = await asyncio.start_server(proxy._serve, "127.0.0.1", 0)
        proxy.port = proxy._server.sockets[0].getsockname()[1]
        try:
            yield proxy
        finally:
            proxy._server.close()
            for writer in proxy._writers:
                writer.transport.abort()

    def black_hole(self) -> None:
        """From now on nothing crosses, and nobody is told."""
        self.silent = True

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        self._writers += [writer, up_writer]
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer),
                             return_exceptions=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            if not self.silent:
                writer.write(data)
                await writer.drain()
        if not self.silent:
            writer.close()
