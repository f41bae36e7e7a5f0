"""The WebSocket gateway's socket, right on the transport under uvicorn.

uvicorn parses each HTTP request and hands an upgrade to its `ws` protocol class. Its own
classes then run the ASGI application in a task per socket, with a queue of received messages
and the framework's frames on that task's stack, for as long as the socket lives: about 30 KiB
per idle socket. The gateway needs none of it, so `GatewayProtocol` takes the upgrade itself:
websockets' sans-I/O `ServerProtocol` does the handshake and the framing, and frames go to the
socket's `Session` (ws.py) from the transport's callbacks (the small text frames that are
most of what a socket receives, its acks, are read in frames.py). An idle socket is this
object, its parser, its `Connection` and `Session`, and one timer (the next keepalive ping).

It keeps uvicorn's behaviour where it matters: keepalive pings on each socket's own timer (so
10,000 sockets are pinged spread over the interval, not at once), `1012` to every socket when
the server shuts down, and the `ws_max_size` and compression settings. Beyond uvicorn, it lets
go of peers that stopped reading: a close is written at once, whatever is queued, and the
transport is aborted after a short grace; a keepalive timeout aborts it; a peer that floods
pings without reading the pongs is dropped; invalid UTF-8 in a text frame closes with 1007.
"""

import asyncio
import logging
import os
from typing import Any, cast

import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol

from dispatchwire.gateway.connection import Connection
from dispatchwire.gateway.frames import at_frame_boundary, small_text_frames, text_frame
from dispatchwire.gateway.protocol import ack_event_id
from dispatchwire.gateway.timers import later
from dispatchwire.gateway.ws import Session
from dispatchwire.http.json_errors import json_refusal

__all__ = ["MAX_MESSAGE_BYTES", "GatewayProtocol", "mount_gateway"]

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 64 * 1024  # after decompression; larger closes with 1009
CLOSE_GRACE_S = 2.0
# Pongs (and frames) waiting for a peer that pings but never reads: beyond this it is dropped.
MAX_UNREAD_BYTES = 1 << 20
SHUTDOWN = 1012  # service restart: reconnect (and resume) shortly
# websockets logs every opened connection at INFO; the gateway logs its own line per socket.
_frames_log = logging.getLogger("dispatchwire.gateway.frames")
_frames_log.setLevel(logging.WARNING)
# Offered to every socket; a factory only holds settings (each socket that takes it gets an
# extension of its own), so one serves all rather than one per socket.
_DEFLATE = [ServerPerMessageDeflateFactory(
    server_max_window_bits=12, client_max_window_bits=12, compress_settings={"memLevel": 5})]


def mount_gateway(app: FastAPI, *, path: str) -> None:
    """Serve the WebSocket gateway at `path`.

    uvicorn hands every upgrade request to `GatewayProtocol` (`http.server.uvicorn_config`),
    which takes those for `path`; a plain HTTP request there is told to upgrade (426)."""
    app.state.gateway_path = path

    async def upgrade_required() -> JSONResponse:
        return JSONResponse({"detail": f"{path} is a WebSocket: send an upgrade request "
                                       "(docs/websocket-api.md)"},
                            status_code=426, headers={"Upgrade": "websocket"})

    app.add_api_route(path, upgrade_required, methods=["GET"], include_in_schema=False)


class GatewayProtocol(asyncio.Protocol):
    """One upgraded connection: handshake, frames, keepalive, flow control and close."""

    __slots__ = ("_app", "_between_frames", "_config", "_connections", "_fragments", "_paused",
                 "_ping_payload", "_text", "_timer", "conn", "session", "transport", "ws")

    def __init__(self, config: uvicorn.Config, server_state: Any, app_state: Any,
                 _loop: Any = None, *, app: Any = None) -> None:
        self._config = config
        self._app = app  # the FastAPI application: its state holds the context and the hub
        self._connections = server_state.connections  # uvicorn shuts these down on exit
        self.ws = ServerProtocol(extensions=_DEFLATE if config.ws_per_message_deflate else None,
                                 max_size=config.ws_max_size, logger=_frames_log)
        self.transport: asyncio.Transport | None = None
        self.conn: Connection | None = None
        self.session: Session | None = None
        self._paused = False  # the peer's buffer is full: frames wait in the connection
        self._fragments: list[bytes] = []
        self._text = True  # the message being received is text (not binary)
        # Known to wait for a frame's first byte without asking (`at_frame_boundary`, ~1 µs):
        # true from when what arrived was read here whole, until bytes go to websockets
        self._between_frames = False
        self._ping_payload: bytes | None = None
        self._timer: asyncio.TimerHandle | None = None  # next ping, pong deadline or close grace

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._connections.add(self)

    def data_received(self, data: bytes) -> None:
        between_frames = self._between_frames and self.ws.state is State.OPEN
        if self.session is not None and (between_frames or at_frame_boundary(self.ws)):
            payloads, taken = small_text_frames(data)  # acks, mostly: read here, cheaply
            for payload in payloads:
                self._message(payload, is_text=True)
            if taken == len(data):
                self._between_frames = True  # websockets' parser was handed nothing
                if self.ws.writes:  # a close, say, that an answer started
                    self._flush()
                return
            data = data[taken:]
        self._between_frames = False
        self.ws.receive_data(data)
        for event in self.ws.events_received():
            if isinstance(event, Request):
                self._handshake(event)
            elif isinstance(event, Frame):
                self._frame(event)
        self._flush()
        if self.ws.parser_exc is not None:  # a protocol error; the close frame is written
            self._close_transport()

    def eof_received(self) -> None:
        return None  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._connections.discard(self)
        self._cancel_timer()
        if self.session is not None:
            received, sent = self.ws.close_rcvd, self.ws.close_sent
            code = received.code if received else sent.code if sent else 1006
            self.session.ended(code)
            self.session = None
        # Break the reference cycles a socket is made of (this protocol, its Connection and
        # transport; websockets' parser, a generator holding its protocol): freed now, by
        # reference counting. Left to the collector, a socket that lived long enough to be old
        # waits for a full collection, which comes only every ~15 minutes: under reconnects
        # the memory grew by megabytes a minute, deflate contexts included (the soak,
        # docs/reliability.md).
        self.conn = self.transport = None
        self.ws.parser.close()

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        if self.conn is not None:
            self.conn.writable_again()

    def shutdown(self) -> None:
        """uvicorn is stopping: tell the client to reconnect later."""
        if self.ws.state is State.OPEN:
            self.ws.send_close(SHUTDOWN)
            self._flush()
        self._close_transport()

    # -- the Transport the gateway writes to ------------------------------------------------

    @property
    def writable(self) -> bool:
        return not self._paused

    def send_text(self, text: str) -> None:
        transport = self.transport
        if self.ws.state is not State.OPEN or transport is None or transport.is_closing():
            return
        if self.ws.extensions:  # compressed: websockets deflates it
            self.ws.send_text(text.encode())
            self._flush()
        else:
            if self.ws.writes:  # a pong websockets queued while reading goes out first
                self._flush()
            transport.write(text_frame(text.encode()))

    def ping(self, payload: bytes) -> None:
        if self.ws.state is State.OPEN:
            self.ws.send_ping(payload)
            self._flush()

    def drop(self, reason: str) -> None:
        """The peer is gone: fail the connection (1011) and abort; what it never read is lost
        to it, and a reconnect resumes from its last event."""
        log.info("dropping a connection: %s", reason)
        if self.ws.state is State.OPEN:
            self.ws.fail(1011, reason[:120])
            self._flush()
        if self.transport is not None:
            self.transport.abort()

    def close(self, code: int, reason: str) -> None:
        """Write a close frame now and let the client answer it, for a short while."""
        if self.ws.state is not State.OPEN or self.transport is None:
            return
        self.ws.send_close(code, reason)
        self._flush()
        self.hold_reading(False)  # the client's answer must be read
        self._cancel_timer()
        self._timer = later(CLOSE_GRACE_S, self.transport.abort)

    def hold_reading(self, hold: bool) -> None:
        if self.transport is not None and not self.transport.is_closing():
            if hold:
                self.transport.pause_reading()
            else:
                self.transport.resume_reading()

    # -- the WebSocket ------------------------------------------------------------------------

    def _handshake(self, request: Request) -> None:
        state = getattr(self._app, "state", None)
        ctx, hub = getattr(state, "ctx", None), getattr(state, "hub", None)
        response = self.ws.accept(request)
        if response.status_code == 101 and \
                request.path.partition("?")[0] != getattr(state, "gateway_path", None):
            response = self.ws.reject(404, "Not Found\n")
        elif response.status_code == 101 and (ctx is None or hub is None):
            response = self.ws.reject(503, "Starting up: try again shortly\n")
        if response.status_code != 101:
            response = json_refusal(response)
        self.ws.send_response(response)
        if response.status_code != 101:
            self._flush()
            self._close_transport()
            return
        assert ctx is not None and hub is not None and self.transport is not None
        self.conn = Connection(self, queue_size=ctx.settings.ws_send_queue)
        self.session = Session(ctx, hub, self.conn, self)
        log.info("socket %s connected from %s", self.conn.socket_id, _peer(request,
                 self.transport))
        # websockets' parser keeps the request in its frame for the socket's life; its headers
        # (~1.8 KiB) are of no more use.
        request.headers.clear()
        self._schedule_ping()

    def _frame(self, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
            self._fragments.append(bytes(frame.data))
            if opcode is not Opcode.CONT:
                self._text = opcode is Opcode.TEXT
            if frame.fin:
                data = b"".join(self._fragments) if len(self._fragments) > 1 \
                    else self._fragments[0]
                self._fragments = []
                self._message(data, is_text=self._text)
        elif opcode is Opcode.PING:  # websockets has queued the pong
            assert self.transport is not None
            if self.transport.get_write_buffer_size() > MAX_UNREAD_BYTES:
                log.info("dropping a connection that pings but reads none of its pongs")
                self.ws.data_to_send()
                self.transport.abort()
        elif opcode is Opcode.PONG:
            payload = bytes(frame.data)
            if self._ping_payload is not None and payload == self._ping_payload:
                self._ping_payload = None
                self._schedule_ping()
            elif self.session is not None:
                self.session.ponged(payload)

    def _message(self, data: bytes, *, is_text: bool) -> None:
        if self.session is None or self.ws.state is not State.OPEN:
            return
        if not is_text:
            self.session.received(None)
            return
        if (event_id := ack_event_id(data)) is not None and self.session.took_ack(event_id):
            return
        try:
            text = data.decode()
        except UnicodeDecodeError:
            log.info("closing a connection that sent invalid UTF-8 in a text frame")
            self.close(1007, "invalid UTF-8 in a text frame")
            return
        self.session.received(text)

    # -- keepalive ---------------------------------------------------------------------------

    def _schedule_ping(self) -> None:
        self._cancel_timer()
        interval = self._config.ws_ping_interval
        if interval:
            self._timer = later(interval, self._ping)

    def _ping(self) -> None:
        if self.ws.state is not State.OPEN:
            return
        self._ping_payload = os.urandom(4)
        self.ws.send_ping(self._ping_payload)
        self._flush()
        timeout = self._config.ws_ping_timeout
        if timeout:
            self._timer = later(timeout, self._keepalive_timeout)
        else:
            self._schedule_ping()

    def _keepalive_timeout(self) -> None:
        """No pong in time: the peer is gone; drop what it never read."""
        self._timer = None
        self.drop("keepalive ping timeout")

    # -- plumbing -----------------------------------------------------------------------------

    def _flush(self) -> None:
        data = self.ws.data_to_send()
        if not data or self.transport is None or self.transport.is_closing():
            return
        self.transport.write(b"".join(data))
        if data[-1] == b"":  # websockets says the connection is done
            self._close_transport()

    def _close_transport(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def _peer(request: Request, transport: asyncio.Transport) -> str:
    """The address for the log: the TCP peer, and what a proxy says it forwarded (unchecked:
    any client can send the header, so it is shown as a claim, never instead of the peer)."""
    peer = transport.get_extra_info("peername")
    address = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "unknown"
    forwarded = request.headers.get("X-Forwarded-For")
    return f"{address} (forwarded for {forwarded[:100]!r})" if forwarded else address
