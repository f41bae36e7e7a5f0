"""Escalation: telling every admin of an order that needs a human, once per reason.

An order in `new` is escalated when DISPATCHWIRE_ESCALATE_AFTER masters have refused it
(declined, or let its offer end unanswered: `declined`), checked in the transaction that ends
the offer; when it has waited DISPATCHWIRE_ESCALATE_WAIT_S in `new` (`waiting`), a timer the
expiry loop keeps: the oldest order in `new` not yet escalated for it, found along the index
on (status, created_at), so that placing an order writes nothing for it; and when at its
placement no approved, active master declares its type (`no_master`). Each admin gets a
stored `order_needs_attention` event. The database keeps each reason once per order (the
primary key of `order_escalations`), however processes race; an order that left `new` is
never escalated (orders are locked and read again before they are escalated for waiting, and
refusals are counted on orders in `new` only).
"""

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from dispatchwire.actors import Role
from dispatchwire.clock import utcnow
from dispatchwire.context import Context
from dispatchwire.dispatch.eligibility import anyone_declares
from dispatchwire.dispatch.models import OfferStatus
from dispatchwire.dispatch.offers import lock_orders
from dispatchwire.events.types import EventType
from dispatchwire.orders import timeline
from dispatchwire.orders.models import AttentionReason, OrderStatus, StepKind
from dispatchwire.store import UnitOfWork, retry_transient
from dispatchwire.store.sql import int_list

__all__ = ["OLDEST_WAITING", "any_due", "escalate", "escalate_if_no_master", "escalate_refused",
           "escalate_waiting_orders", "waiting_due"]

log = logging.getLogger(__name__)

BATCH = 200


async def any_due(ctx: Context, table: str, column: str, now: datetime | None) -> bool:
    """Whether a timer kept in `table.column` has come (a read: no write transaction)."""
    async with ctx.db.read() as sql:
        return await sql.first(f"SELECT 1 FROM {table} WHERE {column} <= :now LIMIT 1",
                               {"now": sql.time(now or utcnow())}) is not None


async def escalate(ctx: Context, uow: UnitOfWork, *, order_id: int, reason: AttentionReason,
                   now: datetime) -> bool:
    """Tell every admin that `order_id` needs attention for `reason`, unless it was already
    escalated for it; whether this did."""
    sql = uow.sql
    inserted = await sql.scalar(
        "INSERT INTO order_escalations (order_id, reason, at) VALUES (:order_id, :reason, :at)"
        " ON CONFLICT DO NOTHING RETURNING order_id",
        {"order_id": order_id, "reason": reason, "at": sql.time(now)})
    if inserted is None:
        return False
    admins = await sql.rows("SELECT id FROM users WHERE role = :role ORDER BY id",
                            {"role": Role.ADMIN})
    for (admin_id,) in admins:
        ctx.outbox.emit(uow, admin_id, EventType.ORDER_NEEDS_ATTENTION,
                        {"orderId": order_id, "reason": reason})
    timeline.record(uow, order_id, StepKind.ESCALATED, at=now, detail={"reason": reason})
    uow.after_commit(lambda: log.info("order %s needs attention: %s (%d admins told)", order_id,
                                      reason, len(admins)))
    return True


async def escalate_refused(ctx: Context, uow: UnitOfWork, *, order_ids: Iterable[int],
                           now: datetime) -> None:
    """Escalate those of these orders, still `new`, that enough masters have refused."""
    needed = ctx.settings.escalate_after
    ids = list(dict.fromkeys(order_ids))
    if not needed or not ids:
        return
    rows = await uow.sql.rows(
        "SELECT a.order_id FROM assignments a JOIN orders o ON o.id = a.order_id"
        f" WHERE a.order_id IN ({int_list(ids)}) AND o.status = '{OrderStatus.NEW}'"
        f" AND a.status IN ('{OfferStatus.REJECTED}', '{OfferStatus.EXPIRED}')"
        " GROUP BY a.order_id HAVING COUNT(DISTINCT a.master_id) >= :needed",
        {"needed": needed})
    for (order_id,) in rows:
        await escalate(ctx, uow, order_id=order_id, reason=AttentionReason.DECLINED, now=now)


async def escalate_if_no_master(ctx: Context, uow: UnitOfWork, *, order_id: int,
                                appliance_type: str, now: datetime) -> None:
    """At placement: escalate an order no approved, active master could ever take."""
    if not await anyone_declares(uow.sql, appliance_type):
        await escalate(ctx, uow, order_id=order_id, reason=AttentionReason.NO_MASTER, now=now)


# Orders in `new` not yet escalated for waiting: read along the index on (status, created_at),
# each checked against the primary key of escalations.
_NOT_ESCALATED = (f"FROM orders o WHERE o.status = '{OrderStatus.NEW}' AND NOT EXISTS"
                  " (SELECT 1 FROM order_escalations e WHERE e.order_id = o.id"
                  f" AND e.reason = '{AttentionReason.WAITING}')")
_WAITING = f"{_NOT_ESCALATED} AND o.created_at <= :cutoff"  # ... placed by :cutoff
# When the oldest of them was placed: its timer is that, plus the wait.
OLDEST_WAITING = f"SELECT MIN(o.created_at) {_NOT_ESCALATED}"


@retry_transient
async def escalate_waiting_orders(ctx: Context, *, now: datetime | None = None) -> int:
    """Escalate the orders that have waited DISPATCHWIRE_ESCALATE_WAIT_S in `new`."""
    if not ctx.settings.escalate_wait_s:
        return 0
    moment = now or utcnow()
    cutoff = moment - timedelta(seconds=ctx.settings.escalate_wait_s)
    async with ctx.db.read() as sql:  # no write transaction for nothing
        if await sql.first(f"SELECT 1 {_WAITING} LIMIT 1", {"cutoff": sql.time(cutoff)}) is None:
            return 0
    total = 0
    while True:
        async with ctx.db.transaction() as uow:
            sql = uow.sql
            ids = [row[0] for row in await sql.rows(
                f"SELECT o.id {_WAITING} ORDER BY o.created_at, o.id LIMIT {BATCH}",
                {"cutoff": sql.time(cutoff)})]
            await lock_orders(sql, ids)
            # Locked, read again: one assigned or cancelled meanwhile is left alone.
            for (order_id,) in await sql.rows(
                    f"SELECT id FROM orders WHERE id IN ({int_list(ids) or 0})"
                    f" AND status = '{OrderStatus.NEW}' ORDER BY id"):
                total += await escalate(ctx, uow, order_id=order_id,
                                        reason=AttentionReason.WAITING, now=moment)
        if len(ids) < BATCH:
            return total


def waiting_due(ctx: Context, placed_at: datetime) -> datetime | None:
    """When an order placed at `placed_at` is escalated if still `new` (None: never)."""
    wait = ctx.settings.escalate_wait_s
    return placed_at + timedelta(seconds=wait) if wait else None
