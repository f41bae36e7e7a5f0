"""Which offers each socket was sent, and the proof that they arrived.

A client that acks (it said `"acks": true`, or has sent an `ack`) proves receipt with `ack`:
every offer whose event it covers is delivered `via: socket`. Any other client (every seed
client) is sent a WebSocket ping right after each offer's frame; client libraries answer pings
by themselves, and a pong comes only after everything written before its ping was read, so the
pong proves the offer arrived (`via: pong`). A frame written into a link that died silently
proves nothing: its ping goes unanswered, and after `ws_ping_timeout_s` the socket is dropped
as dead, so that no further offer is written into it (the offer itself goes on to push and to
the undelivered timeout).

Each offer's frame written to a socket is recorded too, as a `sent` step of its order's
timeline. Both are recorded in the database in the background, what comes within
RECORD_EVERY_S in one transaction (an offer's `sent` step inside its `delivered` one when both
are there: `orders.timeline`), receipts as of when the last of them came (so never before
their own frame was sent): a transaction per pass of the loop took a third of a core at
2,000 acks/s (`make bench`, delivery), and one transaction for the two
rather than one each halves them at a few offers a second. At thousands a second a window's
transaction is cut at RECORD_AT_MOST frames and receipts: one of 50 ms at 16,000 acks/s held
the loop for 4-7 ms (most of it SQLite's), which every frame due meanwhile waited out. An
answer or a poll that would record an offer delivered first stores what waits (`settle`,
through `ctx.due_receipts`), so that an ack that came first is the receipt kept.
"""

import asyncio
import functools
import logging
import time
from collections import deque
from collections.abc import Collection, Coroutine
from datetime import datetime
from typing import Any

from dispatchwire.clock import at_epoch_ms, utcnow
from dispatchwire.context import Context
from dispatchwire.dispatch.models import DeliveredVia
from dispatchwire.dispatch.offer_events import offer_in, open_offer_in
from dispatchwire.dispatch.receipts import record_deliveries, record_sent_and_delivered
from dispatchwire.events.types import StoredEvent
from dispatchwire.gateway.connection import Connection
from dispatchwire.gateway.timers import later
from dispatchwire.orders.timeline import SentFrame

__all__ = ["Receipts"]

log = logging.getLogger(__name__)

UNACKED_KEPT = 64  # offers a socket awaits acks for; older ones are left to push and timeout
# Receipts that could not be stored (the database away) are tried again for this long.
STORE_RETRY_FIRST_S, STORE_RETRY_MAX_S, STORE_RETRY_FOR_S = 0.5, 5.0, 600.0
RECORD_EVERY_S = 0.05  # frames sent and receipts that come meanwhile: one transaction
RECORD_AT_MOST = 256  # ... or as soon as this many frames and receipts wait
SETTLE_WAIT_S = 2.0  # an answer waits at most this long for its offer's receipt to be stored


def _epoch_ms() -> int:
    return int(time.time() * 1000)


class Receipts:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._due: dict[DeliveredVia, list[int]] = {}
        self._due_ids: set[int] = set()
        self._due_at = _epoch_ms()  # when the latest receipt came
        self._due_timer: asyncio.TimerHandle | None = None
        self._storing: dict[int, asyncio.Task[None]] = {}  # offer id -> its receipt's store
        self._sent: list[SentFrame] = []
        self._tasks: set[asyncio.Task[None]] = set()
        ctx.due_receipts.kept_by(self.settle)

    def sent(self, conn: Connection, stored: StoredEvent, *, from_store: bool = False) -> None:
        """A frame of `stored` was handed to the socket: if it makes an offer, await its proof.

        An offer read back `from_store` past its deadline (a resume replays what the socket
        missed) can no longer be answered: it is no step of its order (a `sent` after its
        `expired` would mislead whoever reads the timeline), and nothing waits for its proof."""
        offer_id = open_offer_in(stored, utcnow()) if from_store else offer_in(stored)
        if offer_id is None or conn.closing:
            return
        self._note_sent(conn, stored, offer_id)
        if conn.acks:
            if conn.unacked is None:  # bounded: a client that promised acks may never send one
                conn.unacked = deque(maxlen=UNACKED_KEPT)
            conn.unacked.append((stored.event_id, offer_id))
            return
        if conn.unponged is None:
            conn.unponged = deque()
        conn.unponged.append((conn.ping_after_sending(), offer_id, time.monotonic()))
        if conn.pong_deadline is None:
            self._watch_pongs(conn)

    def acked(self, conn: Connection, event_id: int) -> None:
        """The client handled every event up to `event_id`."""
        conn.acks = True
        proven = []
        while conn.unacked and conn.unacked[0][0] <= event_id:
            proven.append(conn.unacked.popleft()[1])
        self._record(proven, DeliveredVia.SOCKET)

    def ponged(self, conn: Connection, payload: bytes) -> None:
        """A pong: every offer pinged up to this ping has arrived (a client may answer only the
        latest of several pings)."""
        if not conn.unponged or all(entry[0] != payload for entry in conn.unponged):
            return
        proven = []
        while conn.unponged:
            ping, offer_id, _ = conn.unponged.popleft()
            proven.append(offer_id)
            if ping == payload:
                break
        self._record(proven, DeliveredVia.PONG)

    def _watch_pongs(self, conn: Connection) -> None:
        """Drop the socket if its oldest offer ping goes unanswered for the ping timeout."""
        conn.pong_deadline = None
        if not conn.unponged or conn.closing:
            return
        timeout = self._ctx.settings.ws_ping_timeout_s
        waited = time.monotonic() - conn.unponged[0][2]
        if waited < timeout:
            conn.pong_deadline = later(timeout - waited, self._watch_pongs, conn)
            return
        log.info("socket %s of user %s: no pong to an offer's ping in %.0f s", conn.socket_id,
                 conn.user_id, timeout)
        conn.transport.drop("no pong to the ping after an offer")

    def _record(self, offer_ids: list[int], via: DeliveredVia) -> None:
        if not offer_ids:
            return
        self._due_at = _epoch_ms()
        self._due.setdefault(via, []).extend(offer_ids)
        self._due_ids.update(offer_ids)
        self._queued()

    async def settle(self, offer_ids: Collection[int]) -> bool:
        """Store now the waiting receipts, if any of these offers has one; wait (a little)
        until those of these offers are stored. True if any of them had one."""
        if not self._due_ids.isdisjoint(offer_ids):
            self._flush()  # with the `sent` steps that wait: the timeline keeps its order
        storing = {self._storing[i] for i in offer_ids if i in self._storing}
        if storing:
            await asyncio.wait(storing, timeout=SETTLE_WAIT_S)
        return bool(storing)

    async def aclose(self) -> None:
        """Store what is waiting (on shutdown, before the database closes)."""
        if self._due_timer is not None:
            self._flush()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _note_sent(self, conn: Connection, stored: StoredEvent, offer_id: int) -> None:
        self._sent.append((stored.payload["assignment"]["orderId"], offer_id,
                           conn.actor.master_id if conn.actor else None, conn.socket_id,
                           _epoch_ms()))
        self._queued()

    def _queued(self) -> None:
        """Something came to be stored: at the latest RECORD_EVERY_S from the first that
        waits, at once when RECORD_AT_MOST wait."""
        if len(self._due_ids) + len(self._sent) >= RECORD_AT_MOST:
            self._flush()
        elif self._due_timer is None:
            self._due_timer = later(RECORD_EVERY_S, self._flush)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _flush(self) -> None:
        if self._due_timer is not None:
            self._due_timer.cancel()
            self._due_timer = None
        due, self._due = self._due, {}
        sent, self._sent = self._sent, []
        self._due_ids.clear()
        task = self._spawn(self._store_all(sent, due, at_epoch_ms(self._due_at)))
        offer_ids = [offer_id for ids in due.values() for offer_id in ids]
        for offer_id in offer_ids:
            self._storing[offer_id] = task
        task.add_done_callback(functools.partial(self._stored, offer_ids=offer_ids))

    def _stored(self, task: asyncio.Task[None], offer_ids: list[int]) -> None:
        for offer_id in offer_ids:
            if self._storing.get(offer_id) is task:
                del self._storing[offer_id]

    async def _store_all(self, sent: list[SentFrame], due: dict[DeliveredVia, list[int]],
                         at: datetime) -> None:
        """The `sent` steps and the receipts in one transaction; should that fail, the receipts
        alone, for as long as it takes (the steps are only the timeline's)."""
        try:
            await record_sent_and_delivered(self._ctx, sent=sent, delivered=due, at=at)
            return
        except Exception as exc:
            if sent:
                log.warning("recording %d offers sent failed (%s: %s); their receipts are"
                            " stored without them", len(sent), type(exc).__name__, exc)
        for via, offer_ids in due.items():
            await self._store(offer_ids, via, at)

    async def _store(self, offer_ids: list[int], via: DeliveredVia, at: datetime) -> None:
        """Record the receipts, as of when they came; while the database is away, try again
        (a receipt lost would make a master who got his offer look unreachable)."""
        delay = STORE_RETRY_FIRST_S
        while True:
            try:
                await record_deliveries(self._ctx, assignment_ids=offer_ids, via=via, at=at)
                return
            except Exception as exc:
                if (utcnow() - at).total_seconds() > STORE_RETRY_FOR_S:
                    log.error("gave up recording offers %s delivered via %s: %s", offer_ids,
                              via, exc)
                    return
                log.warning("recording offers %s delivered via %s failed (%s); trying again in"
                            " %.0f s", offer_ids, via, type(exc).__name__, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, STORE_RETRY_MAX_S)
