"""Delivery receipts: when and how an offer was proven to have reached its master.

An offer counts as delivered at the first of: an `ack` covering its event, a poll returning it,
its master's answer, or (for a socket that does not ack) the pong to the ping sent right after
its frame. The first is kept, once, with a conditional update: racing receipts from several
sockets, polls and answers on any process record one. A delivered offer needs no push and
never ends undelivered: its two timers are cleared with it.
"""

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime

from dispatchwire.context import Context
from dispatchwire.dispatch.models import DeliveredVia, OfferStatus
from dispatchwire.dispatch.offers import lock_orders
from dispatchwire.metrics import OFFER_DELIVERY
from dispatchwire.orders import timeline
from dispatchwire.orders.models import StepKind
from dispatchwire.push.jobs import cancel_offer_pushes
from dispatchwire.store import UnitOfWork, retry_transient
from dispatchwire.store.sql import Row

__all__ = ["DELIVERED", "deliver_up_to", "delivered", "record_deliveries",
           "record_sent_and_delivered"]

log = logging.getLogger(__name__)

# The columns a delivery sets (a SET clause's items; `:at` and `:via` are its parameters).
DELIVERED = ("delivered_at = :at, delivered_via = :via, push_due_at = NULL,"
             " undelivered_by = NULL")
# `pushed_at` itself, tested here: SQLite 3.40 answers `pushed_at IS NOT NULL` in a RETURNING
# clause with 1 for a NULL
_RETURNING = " RETURNING id, created_at, pushed_at, order_id, master_id"


@retry_transient
async def record_deliveries(ctx: Context, *, assignment_ids: Sequence[int], via: DeliveredVia,
                            at: datetime) -> list[int]:
    """Record these pending offers delivered (those not yet); the ids newly recorded."""
    if not assignment_ids:
        return []
    async with ctx.db.transaction() as uow:
        return await _record_by_id(uow, assignment_ids, via, at)


@retry_transient
async def record_sent_and_delivered(ctx: Context, *, sent: Sequence[timeline.SentFrame],
                                    delivered: Mapping[DeliveredVia, Sequence[int]],
                                    at: datetime) -> None:
    """Record offers delivered and offers' frames written to sockets (`sent` steps), in one
    transaction. An offer's first frame here rides in its `delivered` step when this records
    it delivered (`timeline.sent_into`): a row fewer for every offer acked in time."""
    if not sent and not any(delivered.values()):
        return
    async with ctx.db.transaction() as uow:
        groups = [ids for ids in delivered.values() if ids]
        if uow.sql.locks_rows and len(groups) > 1:  # all their orders at once, in id order
            which, params = uow.sql.ids_in("id", "ids", [i for group in groups for i in group])
            orders = await uow.sql.rows(f"SELECT order_id FROM assignments WHERE {which}",
                                        params)
            await lock_orders(uow.sql, (row[0] for row in orders))
        frames = _first_frames(sent, {i for group in groups for i in group})
        carried: set[int] = set()
        for via, assignment_ids in delivered.items():
            if assignment_ids:
                carried.update(await _record_by_id(uow, assignment_ids, via, at, frames))
        await timeline.insert_sent(uow.sql, [
            frame for frame in sent if frame[1] not in carried or frames[frame[1]] is not frame])


def _first_frames(sent: Sequence[timeline.SentFrame], offer_ids: set[int]
                  ) -> dict[int, timeline.SentFrame]:
    """Each of these offers' first frame in `sent`."""
    frames: dict[int, timeline.SentFrame] = {}
    for frame in sent:
        if frame[1] in offer_ids:
            frames.setdefault(frame[1], frame)
    return frames


async def _record_by_id(uow: UnitOfWork, assignment_ids: Sequence[int], via: DeliveredVia,
                        at: datetime, frames: Mapping[int, timeline.SentFrame] | None = None
                        ) -> list[int]:
    which, params = uow.sql.ids_in("id", "ids", assignment_ids)
    # `status || ''`: SQLite would otherwise walk every pending offer by the status index
    # rather than look these few up by id
    return await _record(uow, which, params, via, at,
                         pending=f"status || '' = '{OfferStatus.PENDING}'", frames=frames)


@retry_transient
async def deliver_up_to(ctx: Context, *, master_id: int, event_id: int, via: DeliveredVia,
                        at: datetime) -> list[int]:
    """Record delivered the master's pending offers whose events are at or below `event_id`:
    a client that acks has handled everything up to there, on whichever socket it got it."""
    async with ctx.db.transaction() as uow:
        return await _record(uow, "master_id = :master_id AND event_id <= :event_id",
                             {"master_id": master_id, "event_id": event_id}, via, at,
                             pending=f"status = '{OfferStatus.PENDING}'")


async def _record(uow: UnitOfWork, which: str, params: dict[str, object], via: DeliveredVia,
                  at: datetime, *, pending: str,
                  frames: Mapping[int, timeline.SentFrame] | None = None) -> list[int]:
    sql = uow.sql
    which = f"{which} AND {pending} AND delivered_at IS NULL"
    if sql.locks_rows:  # their orders first, as everything that changes an offer does
        orders = await sql.rows(f"SELECT order_id FROM assignments WHERE {which}", params)
        if not orders:
            return []
        await lock_orders(sql, (row[0] for row in orders))
    rows = await sql.rows(f"UPDATE assignments SET {DELIVERED} WHERE {which}{_RETURNING}",
                          {**params, "at": sql.time(at), "via": via})
    await delivered(uow, rows, via=via, at=at, frames=frames)
    return [row[0] for row in rows]


async def delivered(uow: UnitOfWork, rows: Sequence[Row], *, via: DeliveredVia, at: datetime,
                    frames: Mapping[int, timeline.SentFrame] | None = None) -> None:
    """What follows offers newly recorded delivered (rows of `id, created_at, pushed_at, order_id,
    master_id`): their pushes stop, the delivery time is measured, the timelines show it (with
    the offer's frame from `frames`, if there, in its `delivered` step)."""
    if not rows:
        return
    sql = uow.sql
    await cancel_offer_pushes(sql, [row[0] for row in rows if row[2] is not None])
    for offer_id, _created, _pushed, order_id, master_id in rows:
        detail = {"via": via}
        if frames and (frame := frames.get(offer_id)) is not None:
            detail = timeline.sent_into(detail, frame)
        timeline.record(uow, order_id, StepKind.DELIVERED, at=at, assignment_id=offer_id,
                        master_id=master_id, detail=detail)
    seconds = [max(0.0, (at - sql.read_time(row[1])).total_seconds()) for row in rows]

    def observe() -> None:
        for value in seconds:
            OFFER_DELIVERY.labels(via).observe(value)
        log.debug("offers %s delivered via %s", [row[0] for row in rows], via)

    uow.after_commit(observe)
