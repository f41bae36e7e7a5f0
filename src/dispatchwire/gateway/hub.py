"""The sockets of this process by user, and the delivery of stored events to them.

Delivery keeps, per socket, a cursor: the newest of its user's event ids it has dealt with.
Event ids are handed out per user in commit order without gaps, so a socket can tell a
duplicate (id at or below the cursor) from a gap (id above cursor + 1: an earlier event is
still on its way, or the broker lost it). Live events are written straight away when they
follow the cursor; on a gap, and on every (re)connect, the socket reads the stored events
after its cursor from the database instead, and goes live only when a read comes back short
with no live event having arrived since that read began. Nothing is skipped or sent twice,
whatever order the broker delivers in. When the broker says it lost messages (an outage), every
socket whose user has newer stored events than its cursor reads them the same way.

Transient frames (`master_location`) have no event id and no cursor: each goes to the user's
sockets here as it comes, and a socket too backlogged to take one more simply misses it.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from dispatchwire.auth.service import DEACTIVATED
from dispatchwire.context import Context
from dispatchwire.events.stream import (
    last_event_id,
    list_events,
    newest_event_ids,
    replayable,
)
from dispatchwire.events.types import CLOSE_SOCKETS, StoredEvent
from dispatchwire.gateway.connection import Connection
from dispatchwire.gateway.expiries import Expiries
from dispatchwire.gateway.metrics import (
    CONNECTIONS,
    RECONNECT_SECONDS,
    REPLAYED_EVENTS,
    SUBSCRIPTIONS,
)
from dispatchwire.gateway.protocol import Close, encode
from dispatchwire.gateway.receipts import Receipts

__all__ = ["Hub"]

log = logging.getLogger(__name__)

PAGE = 500  # stored events read at a time
# Database reads for sockets (auth, resume, catch-up) per turn of the event loop. Beyond this
# they wait here, in order: a reconnect storm's thousands of reads are spread over many turns,
# and whatever else the loop serves (HTTP, live frames, pings) gets a turn between them.
CONCURRENT_READS = 8
USERS_PER_QUERY = 500  # newest event ids read at a time when catching up after a broker gap
RECONNECT_MEMORY_S = 600.0  # how long a dropped user is remembered for the reconnect metric
SWEEP_SLICE = 1000  # sockets looked at per pass of the loop when dropping stale subscriptions


class Hub:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._by_user: dict[int, list[Connection]] = {}
        self._dropped_at: dict[int, float] = {}  # user id -> when its last socket dropped
        self._catch_ups: set[asyncio.Task[None]] = set()
        self._reads = asyncio.Semaphore(CONCURRENT_READS)
        self.receipts = Receipts(ctx)
        self.expiries = Expiries()  # of the sockets' tokens
        ctx.broker.add_listener(self.deliver)
        ctx.broker.add_gap_listener(self._on_broker_gap)
        ctx.broker.add_transient_listener(self.deliver_transient)

    @contextlib.asynccontextmanager
    async def read_turn(self) -> AsyncIterator[None]:
        """Wait for a turn to read for a socket; the turn ends after one pass of the loop.

        Reads do not yield on SQLite (the driver runs on this thread), so a semaphore alone
        would let a storm's every read run in the same pass of the loop, stalling it for
        seconds. Holding the turn across one yield lets CONCURRENT_READS through per pass.
        """
        async with self._reads:
            await asyncio.sleep(0)
            yield

    # -- sockets --------------------------------------------------------------------------

    def attach(self, conn: Connection) -> None:
        """Register an authenticated socket; beyond the per-user cap the oldest is closed."""
        assert conn.user_id is not None
        mine = self._by_user.setdefault(conn.user_id, [])
        mine.append(conn)
        self._ctx.presence.connected(conn.user_id)
        CONNECTIONS.inc()
        if (dropped := self._dropped_at.pop(conn.user_id, None)) is not None:
            RECONNECT_SECONDS.observe(time.monotonic() - dropped)
        live = [c for c in mine if not c.closing]
        for old in live[: max(0, len(live) - self._ctx.settings.ws_max_sockets_per_user)]:
            old.close(Close.REPLACED, "too many sockets for this user: the oldest is closed",
                      reason="replaced")

    def detach(self, conn: Connection) -> None:
        if conn.user_id is None or conn not in (mine := self._by_user.get(conn.user_id, [])):
            return
        mine.remove(conn)
        self._ctx.presence.disconnected(conn.user_id)
        CONNECTIONS.dec()
        self.unsubscribe(conn)
        if not mine:
            del self._by_user[conn.user_id]
            self._dropped_at[conn.user_id] = time.monotonic()

    def subscribe(self, conn: Connection, *, master_id: int) -> None:
        """Send the socket its master's offers live, and count him as live for dispatch."""
        assert conn.user_id is not None
        if not conn.subscribed:
            conn.subscribed = True
            SUBSCRIPTIONS.inc()
            self._ctx.presence.subscribe(socket_id=conn.socket_id, user_id=conn.user_id,
                                         master_id=master_id)
        conn.offers_live = True

    def unsubscribe(self, conn: Connection) -> None:
        conn.offers_live = False
        if conn.subscribed:
            conn.subscribed = False
            SUBSCRIPTIONS.dec()
            self._ctx.presence.unsubscribe(socket_id=conn.socket_id)

    def sockets(self) -> list[Connection]:
        return [conn for mine in self._by_user.values() for conn in mine]

    # -- delivery -------------------------------------------------------------------------

    def deliver(self, stored: StoredEvent) -> None:
        """The broker's listener: hand a committed event to its user's sockets."""
        if not stored.event_id:  # no event: a message to the gateways
            self._on_message(stored)
            return
        text: str | None = None
        for conn in self._by_user.get(stored.user_id, ()):
            if conn.reading_stored:
                conn.missed_live = True
            elif stored.event_id > conn.cursor + 1:
                log.debug("socket %s: event %s of user %s came after %s; reading the gap",
                          conn.socket_id, stored.event_id, stored.user_id, conn.cursor)
                self.start_sync(conn, replay=False)
            elif stored.event_id == conn.cursor + 1:
                conn.cursor = stored.event_id
                if conn.wants(stored.type):
                    text = text or encode(stored.to_message())
                    conn.send(text, stored.type, stored.created_at.timestamp())
                    self.receipts.sent(conn, stored)

    def deliver_transient(self, user_id: int, message: dict[str, Any]) -> None:
        """The broker's transient listener: a frame that is not stored, to the user's sockets.

        A socket whose backlog is half full misses it: a position is never worth filling the
        room that stored events need before a slow reader is cut off."""
        text: str | None = None
        kind = str(message.get("type"))
        for conn in self._by_user.get(user_id, ()):
            if not conn.closing and conn.waiting <= conn.queue_size // 2:
                text = text or encode(message)
                conn.send(text, kind)

    def _on_message(self, message: StoredEvent) -> None:
        if message.type == CLOSE_SOCKETS:  # the user was deactivated
            self._ctx.known_users.forget(message.user_id)
            for conn in list(self._by_user.get(message.user_id, ())):
                conn.send(encode({"type": "auth_error", "message": DEACTIVATED}), "auth_error")
                conn.close(Close.AUTH_FAILED, DEACTIVATED, reason="deactivated")

    def _on_broker_gap(self) -> None:
        task = asyncio.create_task(self.catch_up(), name="gateway-catch-up")
        self._catch_ups.add(task)
        task.add_done_callback(self._catch_ups.discard)

    async def catch_up(self) -> None:
        """Sync every socket whose user has stored events past the socket's cursor."""
        try:
            user_ids = list(self._by_user)
            for start in range(0, len(user_ids), USERS_PER_QUERY):
                users = user_ids[start:start + USERS_PER_QUERY]
                async with self.read_turn(), self._ctx.db.read() as sql:
                    newest = await newest_event_ids(sql, user_ids=users)
                for user_id, last in newest.items():
                    for conn in self._by_user.get(user_id, ()):
                        if conn.reading_stored:
                            conn.missed_live = True  # its read goes on until it has everything
                        elif conn.cursor < last:
                            self.start_sync(conn, replay=False)
        except Exception:  # the sockets catch up at their users' next event instead
            log.exception("catching up after a broker gap failed")

    def start_sync(self, conn: Connection, *, replay: bool, newest: int = 0) -> None:
        """Read the stored events after the socket's cursor (at least up to `newest`), then go
        live."""
        conn.reading_stored = conn.missed_live = True
        conn.spawn(self._sync(conn, replay=replay, newest=newest))

    async def start_from_now(self, conn: Connection) -> None:
        """Put a socket that asked for no replay at its user's newest event, then go live."""
        assert conn.user_id is not None
        async with self.read_turn(), self._ctx.db.read() as sql:
            conn.cursor = await last_event_id(sql, user_id=conn.user_id)
        if conn.missed_live:  # an event came during the read: it may follow the cursor
            self.start_sync(conn, replay=False)
        else:  # nothing can have slipped by: live from the cursor on
            conn.reading_stored = False

    async def recoverable(self, user_id: int, *, after: int) -> bool:
        """Whether a resume after `after` can replay every event since (retention has not
        deleted any of them): `auth_success`'s `recovered`."""
        async with self.read_turn(), self._ctx.db.read() as sql:
            return await replayable(sql, user_id=user_id, after=after)

    async def resume(self, conn: Connection, *, after: int, recovered: bool = True) -> None:
        """Replay every stored event after `after` (clamped to the newest), then go live; or,
        when some of them were deleted (not `recovered`), replay nothing and go live from the
        newest: the client reloads its state by REST.

        A resuming client asked for its whole stream: offers are sent live from then on too,
        as if it had subscribed."""
        assert conn.user_id is not None
        conn.offers_live = True
        if not recovered:
            await self.start_from_now(conn)
            return
        async with self.read_turn(), self._ctx.db.read() as sql:
            newest = await last_event_id(sql, user_id=conn.user_id)
        if after > newest:  # an id this database never gave out: start from now
            log.warning("user %s resumed after event %s, but its newest is %s",
                        conn.user_id, after, newest)
        conn.cursor = min(after, newest)
        self.start_sync(conn, replay=True, newest=newest)

    async def _sync(self, conn: Connection, *, replay: bool, newest: int) -> None:
        try:
            await self._read_until_live(conn, replay=replay, newest=newest)
        except Exception:  # a socket left reading stored events would never go live again
            log.exception("socket %s: reading stored events of user %s failed",
                          conn.socket_id, conn.user_id)
            conn.close(Close.INTERNAL, "could not read stored events: reconnect and resume",
                       reason="sync_failed")

    async def _read_until_live(self, conn: Connection, *, replay: bool, newest: int) -> None:
        """Send the stored events after the cursor, page by page, until a read comes back
        short with no live event having come meanwhile. An event missing on the way (or
        before `newest`) was deleted by retention as the socket read: it is closed, and hears
        `recovered: false` when it resumes."""
        assert conn.user_id is not None
        within = self._ctx.settings.ws_send_timeout_s
        while not conn.closing:
            conn.missed_live = False
            async with self.read_turn(), self._ctx.db.read() as sql:
                events = await list_events(sql, user_id=conn.user_id, after=conn.cursor,
                                           limit=PAGE)
            for stored in events:
                if stored.event_id != conn.cursor + 1:
                    self._events_deleted(conn, stored.event_id)
                    return
                conn.cursor = stored.event_id
                if replay or conn.wants(stored.type):
                    await conn.send_waiting(encode(stored.to_message()), stored.type,
                                            within=within)
                    self.receipts.sent(conn, stored, from_store=True)
            if replay:
                REPLAYED_EVENTS.inc(len(events))
            if len(events) < PAGE and conn.cursor < newest:
                self._events_deleted(conn, newest + 1)
                return
            if len(events) < PAGE and not conn.missed_live:
                conn.reading_stored = False  # watched from before the read: nothing slipped by
                return

    def _events_deleted(self, conn: Connection, found: int) -> None:
        """Events the socket still needs were deleted by retention as it read them (its
        resume was judged `recovered` just before): it reconnects, and hears it was not."""
        log.warning("socket %s: events %s to %s of user %s were deleted as it read them",
                    conn.socket_id, conn.cursor + 1, found - 1, conn.user_id)
        conn.close(Close.INTERNAL, "events after your lastEventId were deleted meanwhile: "
                   "reconnect and resume", reason="events_deleted")

    # -- upkeep ---------------------------------------------------------------------------

    async def run_upkeep(self) -> None:
        """Drop stale subscriptions and forget old drops, until cancelled."""
        stale_s = self._ctx.settings.subscription_stale_s
        every = min(max(stale_s / 4, 0.05), 15.0)
        while True:
            await asyncio.sleep(every)
            try:
                await self.drop_stale(stale_s)
                self._forget_old_drops()
            except Exception:
                log.exception("gateway upkeep failed; trying again in %s s", every)

    async def drop_stale(self, stale_s: float) -> None:
        """Unsubscribe every socket whose last ping is older than `stale_s`.

        A slice of the sockets per pass of the loop: one walk of 10,000 stalled it ~10 ms."""
        now = time.time()
        for n, conn in enumerate(self.sockets()):
            if n % SWEEP_SLICE == SWEEP_SLICE - 1:
                await asyncio.sleep(0)
                if conn.closing:
                    continue
            last = self._ctx.presence.last_ping(socket_id=conn.socket_id)
            if last is not None and now - last > stale_s:
                self.unsubscribe(conn)
                log.info("master #%s: subscription dropped after %.0f s without a ping",
                         conn.actor.master_id if conn.actor else None, stale_s)

    def _forget_old_drops(self) -> None:
        horizon = time.monotonic() - RECONNECT_MEMORY_S
        for user_id in [u for u, t in self._dropped_at.items() if t < horizon]:
            del self._dropped_at[user_id]
