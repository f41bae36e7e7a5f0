"""One socket's conversation on `/ws`: reads frames, calls the hub and the auth service, answers.

The protocol is in docs/websocket-api.md; parsing lives in protocol.py, delivery in hub.py, the
WebSocket itself in server.py. Everything here runs in the transport's callbacks: an idle socket
has no task of its own. Only an `auth`, which reads the database, runs as a task; frames that
arrive meanwhile wait their turn, so answers keep the order of the questions.
"""

import asyncio
import logging
import time
from collections import deque
from collections.abc import Coroutine
from typing import Any, Protocol

from dispatchwire.auth.service import authenticate
from dispatchwire.clock import utcnow
from dispatchwire.context import Context
from dispatchwire.dispatch.models import DeliveredVia
from dispatchwire.dispatch.receipts import deliver_up_to
from dispatchwire.errors import Forbidden, Unauthorized
from dispatchwire.events.stream import last_event_id
from dispatchwire.gateway.connection import Connection
from dispatchwire.gateway.hub import Hub
from dispatchwire.gateway.metrics import FRAMES_IN, RATE_LIMITED, REPLAYS
from dispatchwire.gateway.protocol import (
    Ack,
    Auth,
    ClientMessage,
    Close,
    Location,
    Ping,
    ProtocolError,
    Subscribe,
    TokenBucket,
    Unsubscribe,
    encode,
    error_frame,
    parse,
)
from dispatchwire.gateway.timers import later
from dispatchwire.location.service import share_location
from dispatchwire.masters.service import come_back, may_subscribe

__all__ = ["Reader", "Session"]

log = logging.getLogger(__name__)

_TYPE_NAMES = {Auth: "auth", Subscribe: "subscribe_assignments",
               Unsubscribe: "unsubscribe_assignments", Ping: "ping", Ack: "ack",
               Location: "location"}


class Reader(Protocol):
    """Holds the socket's reading while an answer is being worked out."""

    def hold_reading(self, hold: bool) -> None: ...


class Session:
    """The auth deadline, the rate limit, and each message's answer, for one socket."""

    __slots__ = ("_auth_deadline", "_busy", "_waiting", "bucket", "conn", "ctx", "hub",
                 "reader", "refused_in_a_row")

    def __init__(self, ctx: Context, hub: Hub, conn: Connection, reader: Reader) -> None:
        self.ctx, self.hub, self.conn, self.reader = ctx, hub, conn, reader
        settings = ctx.settings
        self.bucket = TokenBucket(rate=settings.ws_rate_per_s, burst=settings.ws_rate_burst,
                                  now=time.monotonic())
        self.refused_in_a_row = 0
        self._busy = False  # an answer is being read from the database
        self._waiting: deque[str | None] | None = None  # frames (None: binary) read meanwhile
        self._auth_deadline: asyncio.TimerHandle | None = later(settings.ws_auth_timeout_s,
                                                                self._auth_timed_out)

    def received(self, text: str | None) -> None:
        """A whole message from the client: its text, or None for a binary one."""
        if self._busy:
            if self._waiting is None:
                self._waiting = deque()  # made when needed: most sockets never need it
            self._waiting.append(text)
            return
        try:
            self._receive(text)
        except Exception:
            self._failed()

    def took_ack(self, event_id: int) -> bool:
        """An ack the transport read without the JSON parser (`protocol.ack_event_id`): taken
        as `received` takes a parsed one; False while an answer is being worked out, for
        `received` to queue its text in turn."""
        if self._busy:
            return False
        try:
            if not self.conn.closing:
                self._take(Ack(event_id))
        except Exception:
            self._failed()
        return True

    def ended(self, code: int) -> None:
        """The socket is gone, with the close code it went with."""
        self._stop_auth_deadline()
        self.hub.expiries.forget(self.conn.socket_id)
        self.hub.detach(self.conn)
        self.conn.stop()
        log.info("socket %s of user %s disconnected (%s) after %.1f s", self.conn.socket_id,
                 self.conn.user_id, code, time.monotonic() - self.conn.opened_at)

    def _receive(self, text: str | None) -> None:
        if self.conn.closing:
            return
        message: ClientMessage | ProtocolError | None
        try:
            message = parse(text) if text is not None else None
        except ProtocolError as exc:
            # A copy without the traceback: kept, the raised one would form a cycle with this
            # frame (and through it the frame's text and the read it came in), which only a
            # collection frees; a flood of bad frames held hundreds of MiB meanwhile.
            message = ProtocolError(exc.code, exc.message)
        self._take(message)

    def _take(self, message: ClientMessage | ProtocolError | None) -> None:
        """A frame's message (None: not text), within the rate limit, answered or refused."""
        # An ack of what this socket was sent costs nothing: clients ack every event, and a
        # replay's acks come in bursts.
        free = isinstance(message, Ack) and self.conn.actor is not None and \
            message.event_id <= self.conn.cursor
        if not free and not self._within_rate():
            return
        if message is None:
            self._error("invalid_message", "send text frames holding JSON")
        elif isinstance(message, ProtocolError):
            FRAMES_IN.inc("invalid")
            self._error(message.code, message.message)
        else:
            FRAMES_IN.inc(_TYPE_NAMES[type(message)])
            self._dispatch(message)

    def _dispatch(self, message: ClientMessage) -> None:
        if isinstance(message, Auth):
            self._stop_auth_deadline()  # the deadline is for sending auth, not for its answer
            self._then_go_on(self._auth(message))
        elif self.conn.actor is None:
            self._error("not_authenticated", "send auth with your token first")
        elif isinstance(message, Ack):  # one for every event sent: answered here, at once
            if message.event_id > self.conn.cursor:
                self._then_go_on(self._ack_beyond_cursor(message.event_id))
            else:
                self.hub.receipts.acked(self.conn, message.event_id)
        elif isinstance(message, Location):
            self._then_go_on(self._location(message))
        else:
            self._answer(message)

    def ponged(self, payload: bytes) -> None:
        """A pong that is not the keepalive's: it may prove offers arrived."""
        self.hub.receipts.ponged(self.conn, payload)

    def _then_go_on(self, answer: Coroutine[Any, Any, None]) -> None:
        """Work out an answer that reads the database; frames read meanwhile wait for it."""
        self._busy = True
        self.reader.hold_reading(True)
        self.conn.spawn(self._answer_then_go_on(answer))

    async def _answer_then_go_on(self, answer: Coroutine[Any, Any, None]) -> None:
        try:
            await answer
        except Exception:
            self._failed()
        self._busy = False
        while self._waiting and not self._busy:
            self.received(self._waiting.popleft())
        if not self._waiting:
            self._waiting = None
        if not self._busy:
            self.reader.hold_reading(False)

    def _failed(self) -> None:
        log.exception("socket %s failed", self.conn.socket_id)
        self.conn.close(Close.INTERNAL, "internal error", reason="internal_error")

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

    def _answer(self, message: ClientMessage) -> None:
        actor = self.conn.actor
        assert actor is not None
        if isinstance(message, Ping):
            self.ctx.presence.ping(socket_id=self.conn.socket_id)
            self._reply("pong")
        elif isinstance(message, Subscribe):
            try:
                master_id = may_subscribe(actor)
            except Forbidden as exc:
                self._error("forbidden", exc.message)
                return
            self.hub.subscribe(self.conn, master_id=master_id)
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
            async with self.hub.read_turn():  # fresh: is the master marked unreachable?
                actor = await authenticate(self.ctx, token=message.token, fresh=True)
            # Read after the user lookup: a token may run out while the database answers.
            expires_at = self.ctx.tokens.expires_at(message.token)
        except (Unauthorized, Forbidden) as exc:  # Forbidden: a deactivated master
            self._refuse(exc.message)
            return
        if self.conn.closing:
            return
        current = self.conn.actor
        if current is not None and current.user_id != actor.user_id:
            self._error("forbidden", "this socket is authenticated as another user")
            return
        resuming = current is None and message.last_event_id is not None
        recovered = resuming and await self.hub.recoverable(actor.user_id,
                                                            after=message.last_event_id or 0)
        if self.conn.closing:
            return
        self._watch_expiry(expires_at)
        self.conn.actor = actor
        self._reply("auth_success", userId=actor.user_id, role=actor.role,
                    **({"masterId": actor.master_id} if actor.master_id is not None else {}),
                    **({"recovered": recovered} if resuming else {}))
        if current is not None:  # a fresh token for the same user: nothing else changes
            return
        log.info("socket %s authenticated: user #%s (%s)", self.conn.socket_id, actor.user_id,
                 actor.role)
        self.hub.attach(self.conn)
        self.conn.acks = message.acks
        if message.last_event_id is None:
            await self.hub.start_from_now(self.conn)
        else:
            REPLAYS.inc()
            await self.hub.resume(self.conn, after=message.last_event_id, recovered=recovered)
            if not recovered:
                log.info("socket %s: events of user %s after %s were deleted by retention: "
                         "nothing replayed", self.conn.socket_id, actor.user_id,
                         message.last_event_id)
            if message.acks and actor.master_id is not None:  # it handled all up to there
                await deliver_up_to(self.ctx, master_id=actor.master_id,
                                    event_id=message.last_event_id, via=DeliveredVia.SOCKET,
                                    at=utcnow())
        await come_back(self.ctx, actor=actor)  # once live: what waits for him comes here

    async def _ack_beyond_cursor(self, event_id: int) -> None:
        """An ack of events this socket has not been sent: fine if they exist (another socket
        of the user got them), `invalid_message` if not."""
        actor = self.conn.actor
        assert actor is not None
        async with self.hub.read_turn(), self.ctx.db.read() as sql:
            newest = await last_event_id(sql, user_id=actor.user_id)
        if event_id > newest:
            self._error("invalid_message", f"`eventId` {event_id} is above your newest event "
                        f"({newest})")
            return
        self.hub.receipts.acked(self.conn, event_id)
        if actor.master_id is not None:
            await deliver_up_to(self.ctx, master_id=actor.master_id, event_id=event_id,
                                via=DeliveredVia.SOCKET, at=utcnow())

    async def _location(self, message: Location) -> None:
        """Share the master's position with his client: no answer, unless he may not."""
        assert self.conn.actor is not None
        try:
            await share_location(self.ctx, actor=self.conn.actor, lat=message.lat,
                                 lon=message.lon)
        except Forbidden as exc:
            self._error("forbidden", exc.message)

    def _watch_expiry(self, expires_at: float) -> None:
        self.hub.expiries.watch(self.conn.socket_id, expires_at, self)

    def expired(self) -> None:
        """The token this socket authenticated with ran out (gateway/expiries.py)."""
        if not self.conn.closing:
            self._refuse("token has expired: log in again")

    def _refuse(self, message: str) -> None:
        self._reply("auth_error", message=message)
        self.conn.close(Close.AUTH_FAILED, message, reason="auth_failed")

    def _stop_auth_deadline(self) -> None:
        if self._auth_deadline is not None:
            self._auth_deadline.cancel()
            self._auth_deadline = None

    def _auth_timed_out(self) -> None:
        self._auth_deadline = None
        if self.conn.actor is not None or self.conn.closing:
            return
        timeout = self.ctx.settings.ws_auth_timeout_s
        self._error("not_authenticated", f"no auth within {timeout:g} s")
        self.conn.close(Close.AUTH_TIMEOUT, "no auth in time", reason="auth_timeout")

    def _reply(self, kind: str, **fields: object) -> None:
        self.conn.send(encode({"type": kind, **fields}), kind)

    def _error(self, code: str, message: str) -> None:
        self.conn.send(error_frame(code, message), "error")
