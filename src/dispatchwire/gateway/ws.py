"""The `/ws` endpoint: reads frames, calls the hub and the auth service, answers.

The protocol is in docs/websocket-api.md; parsing lives in protocol.py, delivery in hub.py.
"""

import asyncio
import contextlib
import logging
import time

from fastapi import APIRouter, WebSocket

from dispatchwire.auth.service import authenticate
from dispatchwire.context import Context
from dispatchwire.errors import Unauthorized
from dispatchwire.gateway.connection import Connection
from dispatchwire.gateway.hub import Hub
from dispatchwire.gateway.metrics import FRAMES_IN, RATE_LIMITED, REPLAYS
from dispatchwire.gateway.protocol import (
    Auth,
    ClientMessage,
    Close,
    Ping,
    ProtocolError,
    Subscribe,
    TokenBucket,
    Unsubscribe,
    encode,
    error_frame,
    parse,
)

__all__ = ["router"]

log = logging.getLogger(__name__)
router = APIRouter()

_TYPE_NAMES = {Auth: "auth", Subscribe: "subscribe_assignments",
               Unsubscribe: "unsubscribe_assignments", Ping: "ping"}


class _AsgiTransport:
    def __init__(self, websocket: WebSocket) -> None:
        self._websocket = websocket

    async def send(self, text: str) -> None:
        await self._websocket.send_text(text)

    async def close(self, code: int, reason: str) -> None:
        await self._websocket.close(code, reason)


@router.websocket("/ws")
async def websocket_endpoint(websocket: WebSocket) -> None:
    ctx: Context = websocket.app.state.ctx
    await websocket.accept()
    conn = Connection(_AsgiTransport(websocket), queue_size=ctx.settings.ws_send_queue)
    peer = f"{websocket.client.host}:{websocket.client.port}" if websocket.client else "unknown"
    log.info("socket %s connected from %s", conn.socket_id, peer)
    session = _Session(ctx, websocket.app.state.hub, conn)
    code = 1006
    try:
        code = await session.run(websocket)
    except Exception:
        log.exception("socket %s failed", conn.socket_id)
        with contextlib.suppress(Exception):
            await websocket.close(Close.INTERNAL, "internal error")
    finally:
        session.hub.detach(conn)
        await conn.stop()
        log.info("socket %s of user %s disconnected (%s) after %.1f s", conn.socket_id,
                 conn.user_id, code, time.monotonic() - conn.opened_at)


class _Session:
    """One socket's conversation: the auth deadline, the rate limit, each message's answer."""

    def __init__(self, ctx: Context, hub: Hub, conn: Connection) -> None:
        self.ctx, self.hub, self.conn = ctx, hub, conn
        settings = ctx.settings
        self.bucket = TokenBucket(rate=settings.ws_rate_per_s, burst=settings.ws_rate_burst,
                                  now=time.monotonic())
        self.refused_in_a_row = 0

    async def run(self, websocket: WebSocket) -> int:
        """Answer frames until the client goes; the close code it went with."""
        deadline = asyncio.get_running_loop().time() + self.ctx.settings.ws_auth_timeout_s
        while True:
            try:
                async with asyncio.timeout_at(deadline if self.conn.actor is None else None):
                    message = await websocket.receive()
            except TimeoutError:
                self._auth_timed_out()
                deadline = float("inf")
                continue
            if message["type"] == "websocket.disconnect":
                return int(message.get("code", 1005))
            if self.conn.outbox.full():
                # Answers to one read of the socket are all queued before the writer gets a
                # turn: give it one. Only an outbox that stays full means a client not reading.
                await asyncio.sleep(0)
            if self.conn.closing or not self._within_rate():
                continue
            text = message.get("text")
            if text is None:
                self._error("invalid_message", "send text frames holding JSON")
                continue
            await self._handle(text)

    def _within_rate(self) -> bool:
        if self.bucket.take(time.monotonic()):
            self.refused_in_a_row = 0
            return True
        RATE_LIMITED.inc()
        self.refused_in_a_row += 1
        if self.refused_in_a_row == 1:
            self._error("rate_limited", f"too many messages: at most "
                        f"{self.ctx.settings.ws_rate_per_s:g} a second; slow down")
        elif self.refused_in_a_row > self.ctx.settings.ws_rate_burst:
            self.conn.close(Close.POLICY, "went on flooding after rate_limited", reason="flood")
        return False

    async def _handle(self, text: str) -> None:
        try:
            message = parse(text)
        except ProtocolError as exc:
            FRAMES_IN.labels("invalid").inc()
            self._error(exc.code, exc.message)
            return
        FRAMES_IN.labels(_TYPE_NAMES[type(message)]).inc()
        if isinstance(message, Auth):
            await self._auth(message)
        elif self.conn.actor is None:
            self._error("not_authenticated", "send auth with your token first")
        else:
            self._answer(message)

    def _answer(self, message: ClientMessage) -> None:
        actor = self.conn.actor
        assert actor is not None
        if isinstance(message, Ping):
            self.ctx.presence.ping(socket_id=self.conn.socket_id)
            self._reply("pong")
        elif isinstance(message, Subscribe):
            if actor.role != "master" or actor.master_id is None:
                self._error("forbidden", "only masters can subscribe to assignments")
                return
            self.hub.subscribe(self.conn)
            self._reply("subscribed_assignments")
            log.info("master #%s subscribed to assignments (socket %s)", actor.master_id,
                     self.conn.socket_id)
        elif isinstance(message, Unsubscribe):
            self.hub.unsubscribe(self.conn)
            self._reply("unsubscribed_assignments")
            log.info("user %s unsubscribed from assignments (socket %s)", actor.user_id,
                     self.conn.socket_id)

    async def _auth(self, message: Auth) -> None:
        if message.token is None:
            self._refuse("token is missing")
            return
        try:
            async with self.hub.reads:
                actor = await authenticate(self.ctx, token=message.token)
            # Read after the user lookup: a token may run out while the database answers.
            expires_at = self.ctx.tokens.expires_at(message.token)
        except Unauthorized as exc:
            self._refuse(exc.message)
            return
        current = self.conn.actor
        if current is not None and current.user_id != actor.user_id:
            self._error("forbidden", "this socket is authenticated as another user")
            return
        self._watch_expiry(expires_at)
        self.conn.actor = actor
        self._reply("auth_success", userId=actor.user_id, role=actor.role,
                    **({"masterId": actor.master_id} if actor.master_id is not None else {}))
        if current is not None:  # a fresh token for the same user: nothing else changes
            return
        log.info("socket %s authenticated: user #%s (%s)", self.conn.socket_id, actor.user_id,
                 actor.role)
        self.hub.attach(self.conn)
        if message.last_event_id is None:
            await self.hub.start_from_now(self.conn)
        else:
            REPLAYS.inc()
            self.conn.wants_offers = True  # a resuming client asked for its whole stream
            await self.hub.resume(self.conn, after=message.last_event_id)

    def _watch_expiry(self, expires_at: float) -> None:
        if self.conn.expiry is not None:
            self.conn.expiry.cancel()
        delay = max(0.0, expires_at - time.time())
        self.conn.expiry = asyncio.get_running_loop().call_later(
            delay, self._refuse, "token has expired: log in again")

    def _refuse(self, message: str) -> None:
        self._reply("auth_error", message=message)
        self.conn.close(Close.AUTH_FAILED, message, reason="auth_failed")

    def _auth_timed_out(self) -> None:
        timeout = self.ctx.settings.ws_auth_timeout_s
        self._error("not_authenticated", f"no auth within {timeout:g} s")
        self.conn.close(Close.AUTH_TIMEOUT, "no auth in time", reason="auth_timeout")

    def _reply(self, kind: str, **fields: object) -> None:
        self.conn.send(encode({"type": kind, **fields}), kind)

    def _error(self, code: str, message: str) -> None:
        self.conn.send(error_frame(code, message), "error")
