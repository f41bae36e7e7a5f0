"""Escalation: telling every admin of an order that needs a human, once per reason.

An order in `new` is escalated when DISPATCHWIRE_ESCALATE_AFTER masters have refused it
(declined, or let its offer end unanswered: `declined`), checked in the transaction that ends
the offer; when it has waited DISPATCHWIRE_ESCALATE_WAIT_S in `new` (`waiting`), a timer the
expiry loop claims like an offer's deadline; and when at its placement no approved, active
master declares its type (`no_master`). Each admin gets a stored `order_needs_attention`
event. The database keeps each reason once per order (the primary key of
`order_escalations`), however processes race; an order that left `new` is never escalated
(its timer is cleared with the status, and refusals are counted on orders in `new` only).
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

__all__ = ["any_due", "attention_due", "escalate", "escalate_if_no_master", "escalate_refused",
           "escalate_waiting_orders"]

log = logging.getLogger(__name__)

BATCH = 200


async def any_due(ctx: Context, table: str, column: str, now: datetime | None) -> bool:
    """Whether a timer kept in `table.column` has come (a read: no write transaction)."""
    async with ctx.db.read() as sql:
        return await sql.first(f"SELECT 1 FROM {table} WHERE {column} <= :now LIMIT 1",
                               {"now": sql.time(now or utcnow())}) is not None


def attention_due(ctx: Context, placed_at: datetime) -> datetime | None:
    """When an order placed at `placed_at` is escalated if still `new` (None: never)."""
    wait = ctx.settings.escalate_wait_s
    return placed_at + timedelta(seconds=wait) if wait else None


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


@retry_transient
async def escalate_waiting_orders(ctx: Context, *, now: datetime | None = None) -> int:
    """Claim the orders whose `waiting` timer has come; escalate those still `new`."""
    total = 0
    if not await any_due(ctx, "orders", "attention_due_at", now):
        return 0  # no write transaction for nothing
    while True:
        async with ctx.db.transaction() as uow:
            sql = uow.sql
            moment = now or utcnow()
            ids = [row[0] for row in await sql.rows(
                "SELECT id FROM orders WHERE attention_due_at <= :now"
                f" ORDER BY attention_due_at LIMIT {BATCH}", {"now": sql.time(moment)})]
            if not ids:
                return total
            await lock_orders(sql, ids)
            # A conditional update claims each timer once, whichever process gets there.
            due = await sql.rows(
                f"UPDATE orders SET attention_due_at = NULL WHERE id IN ({int_list(ids)})"
                " AND attention_due_at IS NOT NULL RETURNING id, status")
            for order_id, status in sorted(due):
                if status == OrderStatus.NEW:
                    await escalate(ctx, uow, order_id=order_id, reason=AttentionReason.WAITING,
                                   now=moment)
        total += len(due)
        if len(ids) < BATCH:
            return total
