"""Offers made and ended inside a unit of work: the offer's row (its `offered` and `expired` steps
are read from it: `orders.timeline`) and its events.

Every function here runs in the caller's transaction, so a change and the offers and events it
causes commit together or not at all. Which master an order is offered to is `rounds.py`; who
may take it, `eligibility.py`; who of them comes first, `ranking.py`. This is the hot path of
every order, so it speaks plain SQL (`store.sql`) on the transaction's connection; the
session's pending changes are flushed first, so the SQL sees what the caller changed through
the ORM.

Lock order, to keep concurrent transactions on PostgreSQL from deadlocking: a master's row,
then orders (several in id order), then their offers; users' rows last, when events are
numbered at commit. Whatever changes an offer locks its order first.
"""

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from dispatchwire.clock import isoformat, utcnow
from dispatchwire.context import Context
from dispatchwire.dispatch.eligibility import MasterFacts, OrderFacts
from dispatchwire.dispatch.models import EndReason, OfferStatus
from dispatchwire.dispatch.schemas import OfferOut
from dispatchwire.events.types import EventType, PendingEvent
from dispatchwire.metrics import OFFERS_MADE, OFFERS_RESOLVED, OFFERS_UNDELIVERED, labelled
from dispatchwire.push.jobs import JobKind, cancel_offer_pushes, enqueue_after_numbering
from dispatchwire.store import Sql, UnitOfWork
from dispatchwire.store.sql import bind_list, int_list

__all__ = [
    "Offer",
    "Withdrawn",
    "describe_offer",
    "lock_orders",
    "make_offer",
    "mark_unreachable",
    "withdraw_offers",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Offer:
    id: int
    order_id: int
    master_id: int
    created_at: datetime
    expires_at: datetime


class Withdrawn(NamedTuple):
    """An offer that stopped being pending without an answer (expired or withdrawn)."""

    assignment_id: int
    order_id: int
    master_id: int


# The offer is inserted only if this transaction claims its master (`Sql.try_claim`): a master
# another transaction is offering something right now is passed over, never waited for. (The
# unique index alone made the second inserter wait for the first while holding its order's
# lock; the first, dispatching a master freed by a cancel, then waited for that order: a
# deadlock PostgreSQL broke after a second, dozens of times a minute at 100 orders/s.)
_INSERT_OFFER = (
    "INSERT INTO assignments (order_id, master_id, status, created_at, expires_at,"
    " push_due_at, undelivered_by, slot, why)"
    f" SELECT :order_id, :master_id, '{OfferStatus.PENDING}', :created_at, :expires_at,"
    " :push_due_at, :undelivered_by, :slot, :why WHERE {claimed}"
    " ON CONFLICT DO NOTHING RETURNING id"
)
MASTER_CLAIMS = 1  # the namespace of the masters' claims
# Offers end as `expired` when they ran out of time, `cancelled` when taken away.
_STATUS_OF = {EndReason.TIMEOUT: OfferStatus.EXPIRED, EndReason.UNDELIVERED: OfferStatus.EXPIRED,
              EndReason.WITHDRAWN: OfferStatus.CANCELLED, EndReason.TAKEN: OfferStatus.CANCELLED}
OFFER_END_TTL_S = 3600


async def lock_orders(sql: Sql, order_ids: Iterable[int]) -> None:
    """Lock orders' rows, in id order, until the transaction ends (PostgreSQL).

    SQLite has one writer at a time and no row locks: nothing to do there.
    """
    if sql.locks_rows:
        await sql.rows(f"SELECT id FROM orders WHERE id IN ({int_list(order_ids)}) ORDER BY id"
                       f"{sql.for_update()}")


async def make_offer(ctx: Context, uow: UnitOfWork, *, order: OrderFacts, master: MasterFacts,
                     now: datetime | None = None, log_it: bool = True, slot: int = 0,
                     why: dict[str, Any] | None = None) -> Offer | None:
    """Offer `order` to `master` in the order's `slot`; None if a concurrent transaction gave
    the master an offer, or filled the slot, first, or is offering him something now. `why`
    is the timeline's reason for this master.

    With `log_it` False the caller's log line tells of the offer (one line per request).
    """
    now = now or utcnow()
    settings = ctx.settings
    expires_at = now + timedelta(seconds=settings.assignment_timeout_s)
    undelivered_by = now + timedelta(seconds=settings.undelivered_timeout_s) \
        if settings.undelivered_timeout_s else None
    sql = uow.sql
    # The partial unique indexes allow one pending offer per master and per slot of an order:
    # a conflict means someone else's offer won, and nothing is inserted.
    claimed = sql.try_claim(MASTER_CLAIMS, "master_id")
    offer_id = await sql.scalar(_INSERT_OFFER.format(claimed=claimed), {
        "order_id": order.id, "master_id": master.id, "created_at": sql.time(now),
        "expires_at": sql.time(expires_at),
        "push_due_at": sql.time(now + timedelta(seconds=settings.push_after_s)),
        "undelivered_by": sql.time(undelivered_by) if undelivered_by else None, "slot": slot,
        "why": sql.json({**(why or {}), "slot": slot})})  # its `offered` step (timeline)
    if offer_id is None:
        return None
    offer = Offer(offer_id, order.id, master.id, now, expires_at)
    event = ctx.outbox.emit(uow, master.user_id, EventType.NEW_ASSIGNMENT, OfferOut.event_payload(
        offer_id=offer_id, order=order, created_at=now, expires_at=expires_at))
    uow.before_commit(_EventOfOffer(offer_id, event).record)  # an `ack` names the event
    first_timer = min(filter(None, (expires_at, undelivered_by)))
    uow.after_commit(lambda: ctx.alarm.note(first_timer))
    uow.after_commit(OFFERS_MADE.inc)
    if log_it:
        uow.after_commit(lambda: log.info("offer %s", describe_offer(offer)))
    return offer


def describe_offer(offer: Offer) -> str:
    return (f"{offer.id}: order {offer.order_id} to master {offer.master_id}"
            f" until {isoformat(offer.expires_at)}")


class _EventOfOffer:
    """Records the id of an offer's `new_assignment` event on the offer, once numbered."""

    __slots__ = ("event", "offer_id")

    def __init__(self, offer_id: int, event: PendingEvent) -> None:
        self.offer_id, self.event = offer_id, event

    async def record(self, uow: UnitOfWork) -> None:
        await uow.sql.rows("UPDATE assignments SET event_id = :event_id WHERE id = :id",
                           {"event_id": self.event.event_id, "id": self.offer_id})



async def withdraw_offers(ctx: Context, uow: UnitOfWork, *, reason: EndReason,
                          order_id: int | None = None, master_id: int | None = None,
                          due_by: datetime | None = None, undelivered_by: datetime | None = None,
                          now: datetime | None = None, limit: int | None = None,
                          log_each: bool = True) -> list[Withdrawn]:
    """End pending offers of an order, of a master, due by a time, or undelivered by a time,
    for `reason`; tell their masters (and push the end to those whose offer was pushed).

    On PostgreSQL their orders are locked first, then one conditional update moves the offers
    that are still pending: concurrent callers (on any process) never move the same offer twice.
    On SQLite the update alone does it. With `limit`, the offers due first. With `log_each`
    False the caller's log line tells of them.
    """
    sql = uow.sql
    await uow.flush()  # the ORM changes so far, if any, before plain SQL
    now = now or utcnow()
    where = [f"status = '{OfferStatus.PENDING}'"]
    params: dict[str, Any] = {"status": _STATUS_OF[reason], "reason": reason,
                              "now": sql.time(now)}
    for column, value in (("order_id", order_id), ("master_id", master_id)):
        if value is not None:
            where.append(f"{column} = :{column}")
            params[column] = value
    first = "id"
    for column, moment in (("expires_at", due_by), ("undelivered_by", undelivered_by)):
        if moment is not None:
            where.append(f"{column} <= :{column}")
            params[column] = sql.time(moment)
            first = column
    condition = " AND ".join(where)
    chosen = f"SELECT id, order_id FROM assignments WHERE {condition}"
    if limit is not None:
        chosen += f" ORDER BY {first} LIMIT {int(limit)}"
    if sql.locks_rows:
        candidates = await sql.rows(chosen, params)
        if not candidates:
            return []
        await lock_orders(sql, (row[1] for row in candidates))
        # Fewer rows than candidates when a concurrent caller moved some meanwhile.
        ids, id_params = bind_list("id", [row[0] for row in candidates])
        target, params = f"id IN ({ids}) AND {condition}", params | id_params
    else:  # one writer at a time: nothing to lock, nothing moves meanwhile
        target = condition if limit is None else f"id IN (SELECT id FROM ({chosen}))"
    rows = sorted(await sql.rows(
        "UPDATE assignments SET status = :status, end_reason = :reason, resolved_at = :now,"
        f" push_due_at = NULL, undelivered_by = NULL WHERE {target}"
        " RETURNING id, order_id, master_id,"
        " (SELECT user_id FROM masters WHERE masters.id = assignments.master_id),"
        " pushed_at", params))  # not `IS NOT NULL`: SQLite 3.40 answers 1 for a NULL there
    withdrawn = [Withdrawn(row[0], row[1], row[2]) for row in rows]
    if withdrawn:
        uow.after_commit(lambda: _log_withdrawn(withdrawn, reason, log_each))
    pushed = [row[0] for row in rows if row[4] is not None]
    await cancel_offer_pushes(sql, pushed)
    for assignment_id, ended_order_id, _master_id, user_id, pushed_at in rows:
        event = ctx.outbox.emit(uow, user_id, EventType.ASSIGNMENT_EXPIRED,
                                {"assignmentId": assignment_id, "reason": reason})
        if pushed_at is not None:  # the phone shows its notice: this push takes it away
            enqueue_after_numbering(
                uow, event, kind=JobKind.OFFER_END, ttl_s=OFFER_END_TTL_S, urgency="high",
                topic=f"assignment-{assignment_id}", assignment_id=assignment_id,
                order_id=ended_order_id, now=now,
                ends_at=now + timedelta(seconds=OFFER_END_TTL_S))
    return withdrawn


def _log_withdrawn(withdrawn: Sequence[Withdrawn], reason: EndReason, log_each: bool) -> None:
    labelled(OFFERS_RESOLVED, _STATUS_OF[reason]).inc(len(withdrawn))
    if reason == EndReason.UNDELIVERED:
        OFFERS_UNDELIVERED.inc(len(withdrawn))
    for offer in withdrawn if log_each else ():
        log.info("offer %s of order %s to master %s ended: %s", offer.assignment_id,
                 offer.order_id, offer.master_id, reason)


async def mark_unreachable(ctx: Context, uow: UnitOfWork, *, master_ids: Sequence[int],
                           now: datetime) -> None:
    """These masters let an offer end undelivered: offer them nothing until they are seen
    (`seen`); until then a token check shows them so (`KnownUsers`, kept a few seconds)."""
    if not master_ids:
        return
    sql = uow.sql
    rows = await sql.rows(f"UPDATE masters SET unreachable_at = :now WHERE id IN"
                          f" ({int_list(master_ids)}) RETURNING user_id", {"now": sql.time(now)})
    uow.after_commit(lambda: ctx.known_users.forget(*(row[0] for row in rows)))
    uow.after_commit(lambda: log.info("masters %s unreachable until seen", sorted(master_ids)))
