"""Orders: placing them, reading what the caller may see, and moving them along."""

import logging

from dispatchwire.actors import Actor, Role, require_role
from dispatchwire.clock import utcnow
from dispatchwire.context import Context
from dispatchwire.dispatch.eligibility import OrderFacts
from dispatchwire.dispatch.escalation import escalate_if_no_master, waiting_due
from dispatchwire.dispatch.models import EndReason
from dispatchwire.dispatch.offers import Withdrawn, describe_offer, withdraw_offers
from dispatchwire.dispatch.rounds import dispatch_for_master, dispatch_placed_order, redispatch
from dispatchwire.errors import Conflict, Forbidden, NotFound
from dispatchwire.metrics import ORDERS_PLACED
from dispatchwire.orders import timeline
from dispatchwire.orders.models import OrderStatus, StepKind
from dispatchwire.orders.notices import notify_status
from dispatchwire.orders.queries import ORDER_ROW, OrderRead, visible_to
from dispatchwire.orders.schemas import OrderIn
from dispatchwire.store import Sql, retry_transient

__all__ = ["TRANSITIONS", "change_status", "create_order", "get_order", "list_orders"]

log = logging.getLogger(__name__)

# The moves the status machine allows, and who may make each; `assigned` comes only from accept.
TRANSITIONS: dict[str, set[str]] = {
    OrderStatus.NEW: {OrderStatus.CANCELLED},
    OrderStatus.ASSIGNED: {OrderStatus.IN_PROGRESS, OrderStatus.CANCELLED},
    OrderStatus.IN_PROGRESS: {OrderStatus.COMPLETED},
    OrderStatus.COMPLETED: set(),
    OrderStatus.CANCELLED: set(),
}
MOVERS: dict[str, set[str]] = {
    OrderStatus.IN_PROGRESS: {Role.MASTER, Role.ADMIN},
    OrderStatus.COMPLETED: {Role.MASTER, Role.ADMIN},
    OrderStatus.CANCELLED: {Role.CLIENT, Role.ADMIN},
}


@retry_transient
async def create_order(ctx: Context, *, actor: Actor, data: OrderIn) -> OrderRead:
    """Place an order and offer it at once to the best eligible master."""
    require_role(actor, Role.CLIENT, Role.ADMIN)
    async with ctx.db.transaction() as uow:
        sql = uow.sql
        now = utcnow()
        row = await sql.first(_INSERT_ORDER, {
            **data.model_dump(), "client_id": actor.user_id, "now": sql.time(now)})
        order = OrderRead.of(sql, row, viewer=actor)  # its row is its `placed` step (timeline)
        # No other transaction can see the order yet: nothing to lock, no offer to look for.
        facts = OrderFacts(order.id, data.appliance_type, data.problem, data.address, data.lat,
                           data.lon)
        offer = await dispatch_placed_order(ctx, uow, order=facts, log_it=False)
        if offer is None:
            await escalate_if_no_master(ctx, uow, order_id=order.id,
                                        appliance_type=data.appliance_type, now=now)
        if (due := waiting_due(ctx, now)) is not None:  # the expiry loop's timer
            uow.after_commit(lambda: ctx.alarm.note(due))
        # One line for the order and its offer, once both are stored.
        uow.after_commit(lambda: log.info(
            "order %s placed by user %s: %s%s", order.id, actor.user_id, data.appliance_type,
            f"; offer {describe_offer(offer)}" if offer else ""))
        uow.after_commit(ORDERS_PLACED.inc)
    return order


# Returns the new order as an `ORDER_ROW` row: with the client's contact, and no master yet.
_INSERT_ORDER = (
    "INSERT INTO orders (client_id, status, appliance_type, problem, address, lat, lon,"
    f" created_at, updated_at) VALUES (:client_id, '{OrderStatus.NEW}', :appliance_type,"
    " :problem, :address, :lat, :lon, :now, :now) RETURNING id, status, appliance_type,"
    " problem, address, lat, lon, client_id, (SELECT name FROM users WHERE id = :client_id),"
    " (SELECT phone FROM users WHERE id = :client_id), master_id, NULL, NULL, NULL,"
    " created_at, updated_at, NULL, NULL, NULL"
)


async def list_orders(ctx: Context, *, actor: Actor, status: str | None = None,
                      needs_attention: bool = False, limit: int = 100, offset: int = 0
                      ) -> list[OrderRead]:
    """The orders the caller may see, newest first; with `needs_attention` (admins only), the
    orders escalated that are still `new`."""
    visible, params = visible_to(actor)
    if status is not None:
        visible += " AND o.status = :status"
        params["status"] = status
    if needs_attention:
        require_role(actor, Role.ADMIN)
        visible += (f" AND o.status = '{OrderStatus.NEW}' AND EXISTS (SELECT 1 FROM"
                    " order_escalations e WHERE e.order_id = o.id)")
    async with ctx.db.read() as sql:
        rows = await sql.rows(f"{ORDER_ROW} WHERE {visible} ORDER BY o.id DESC"
                              f" LIMIT {int(limit)} OFFSET {int(offset)}", params)
        return [OrderRead.of(sql, row, viewer=actor) for row in rows]


async def get_order(ctx: Context, *, actor: Actor, order_id: int) -> OrderRead:
    """One order, if the caller may see it."""
    async with ctx.db.read() as sql:
        return await _visible_order(sql, actor, order_id)


@retry_transient
async def change_status(ctx: Context, *, actor: Actor, order_id: int, status: str
                        ) -> OrderRead:
    """Move an order along its status machine; 409 for a move the machine forbids."""
    async with ctx.db.transaction() as uow:
        sql = uow.sql
        order = await _visible_order(sql, actor, order_id, lock=True)
        _check_move(actor, order, status)
        now = utcnow()
        # The row is locked: no one else moves it meanwhile.
        await sql.rows("UPDATE orders SET status = :status, updated_at = :now WHERE id = :id",
                       {"status": status, "now": sql.time(now), "id": order_id})
        timeline.record(uow, order_id, StepKind.STATUS, at=now,
                        detail={"status": status, "by": actor.user_id})
        notify_status(ctx, uow, order_id=order_id, status=status, client_id=order.client_id,
                      master_user_id=order.master_user_id)
        withdrawn: list[Withdrawn] = []
        if order.status == OrderStatus.NEW:  # a cancelled search withdraws its offer
            withdrawn = await withdraw_offers(ctx, uow, order_id=order_id,
                                              reason=EndReason.WITHDRAWN, log_each=False)
            await redispatch(ctx, uow, withdrawn)
        elif status in (OrderStatus.COMPLETED, OrderStatus.CANCELLED) \
                and order.master_id is not None:
            await sql.rows("UPDATE masters SET idle_since = :now WHERE id = :id",
                           {"now": sql.time(now), "id": order.master_id})
            await dispatch_for_master(ctx, uow, master_id=order.master_id)
    log.info("order %s: %s -> %s by user %s%s", order_id, order.status, status, actor.user_id,
             "".join(f"; offer {offer.assignment_id} to master {offer.master_id} withdrawn"
                     for offer in withdrawn))
    return order.moved(status, now)


async def _visible_order(sql: Sql, actor: Actor, order_id: int, *, lock: bool = False
                         ) -> OrderRead:
    """The order if the actor may see it (locked, with `lock`); NotFound otherwise."""
    visible, params = visible_to(actor)
    params["order_id"] = order_id
    if lock and sql.locks_rows:
        # Lock first, read after: a row locked after waiting is re-checked at its newest
        # version, but rows joined to it would still come from before the wait.
        await sql.rows(f"SELECT o.id FROM orders o WHERE o.id = :order_id AND {visible}"
                       f"{sql.for_update()}", params)
    row = await sql.first(f"{ORDER_ROW} WHERE o.id = :order_id AND {visible}", params)
    if row is None:
        raise NotFound(f"order {order_id} not found")
    return OrderRead.of(sql, row, viewer=actor)


def _check_move(actor: Actor, order: OrderRead, status: str) -> None:
    if status not in TRANSITIONS[order.status]:
        hint = "; orders become assigned when a master accepts" if status == "assigned" else ""
        raise Conflict(f"order {order.id} is {order.status} and cannot become {status}{hint}")
    if actor.role not in MOVERS[status]:
        raise Forbidden(f"a {actor.role} cannot move an order to {status}")
