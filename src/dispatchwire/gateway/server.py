"""How uvicorn serves the gateway: frame limits, keepalive, compression, and cut-offs."""

import logging
from typing import Any

import uvicorn
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from dispatchwire.settings import Settings

__all__ = ["MAX_MESSAGE_BYTES", "GatewayWebSocketProtocol", "uvicorn_config"]

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 64 * 1024  # after decompression; larger closes with 1009
CLOSE_GRACE_S = 2.0
# Pongs (and frames) waiting for a peer that pings but never reads: beyond this it is dropped.
MAX_UNREAD_BYTES = 1 << 20


class GatewayWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol, made to let go of peers that stopped reading.

    uvicorn waits for a congested socket to drain before it sends a close frame, and closes
    the transport gracefully after a keepalive timeout: with a peer that never reads, both
    wait for ever and hold the backlog. Here a close on a congested socket is written at once
    and the transport is aborted after a short grace, and a keepalive timeout aborts it.
    A peer that floods protocol pings without reading the pongs is dropped too, and invalid
    UTF-8 closes with 1007 without the error log uvicorn writes for it.
    """

    async def send(self, message: Any) -> None:
        closing = message["type"] == "websocket.close"
        if closing and self.handshake_complete and not self.writable.is_set():
            self._close_congested(message.get("code", 1000), message.get("reason") or "")
            return
        await super().send(message)
        if closing and self.close_timer is not None:
            self.close_timer.cancel()
            self.close_timer = self.loop.call_later(CLOSE_GRACE_S, self.transport.abort)

    def _close_congested(self, code: int, reason: str) -> None:
        if self.close_sent or self.transport.is_closing():
            return
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        self.conn.send_close(code, reason)
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self.close_timer = self.loop.call_later(CLOSE_GRACE_S, self.transport.abort)

    def handle_ping(self) -> None:
        if self.transport.is_closing() or self.transport.get_write_buffer_size() > MAX_UNREAD_BYTES:
            self.conn.data_to_send()  # the pong goes nowhere
            if not self.transport.is_closing():
                log.info("dropping a connection that pings but reads none of its pongs")
                self.transport.abort()
            return
        super().handle_ping()

    def send_receive_event_to_app(self) -> None:
        if self.curr_msg_data_type == "text" and not self.close_sent:
            try:
                b"".join(self.frames).decode()
            except UnicodeDecodeError:
                self.frames = []
                log.info("closing a connection that sent invalid UTF-8 in a text frame")
                self.conn.send_close(1007, "invalid UTF-8 in a text frame")
                self.handle_parser_exception()
                return
        super().send_receive_event_to_app()

    def keepalive_timeout(self) -> None:
        super().keepalive_timeout()
        self.transport.abort()  # the peer is gone: drop what it never read


def uvicorn_config(app: Any, settings: Settings, **overrides: Any) -> uvicorn.Config:
    """The one uvicorn configuration, for `dispatchwire serve` and the tests alike."""
    options: dict[str, Any] = {
        "host": settings.host, "port": settings.port, "log_level": settings.log_level.lower(),
        "proxy_headers": True,
        "log_config": None,  # one format for all: uvicorn logs through the root logger
        "ws": GatewayWebSocketProtocol, "ws_max_size": MAX_MESSAGE_BYTES,
        "ws_ping_interval": settings.ws_ping_interval_s,
        "ws_ping_timeout": settings.ws_ping_timeout_s,
        "ws_per_message_deflate": settings.ws_compression,
        **overrides,
    }
    return uvicorn.Config(app, **options)
