"""Orders: placing them, reading what the caller may see, and moving them along."""

import logging

from sqlalchemy import Select, select
from sqlalchemy.orm.attributes import set_committed_value

from dispatchwire.auth.models import User
from dispatchwire.auth.service import Actor, require_role
from dispatchwire.clock import utcnow
from dispatchwire.context import Context
from dispatchwire.db import retry_transient
from dispatchwire.dispatch.models import Assignment
from dispatchwire.dispatch.offers import (
    dispatch_for_master,
    dispatch_placed_order,
    notify_status,
    redispatch,
    withdraw_offers,
)
from dispatchwire.errors import Conflict, Forbidden, NotFound
from dispatchwire.metrics import ORDERS_PLACED
from dispatchwire.orders.models import Order
from dispatchwire.orders.schemas import Contact, OrderIn, OrderOut

__all__ = ["TRANSITIONS", "change_status", "create_order", "get_order", "list_orders",
           "order_out"]

log = logging.getLogger(__name__)

# The moves the status machine allows, and who may make each; `assigned` comes only from accept.
TRANSITIONS: dict[str, set[str]] = {
    "new": {"cancelled"},
    "assigned": {"in_progress", "cancelled"},
    "in_progress": {"completed"},
    "completed": set(),
    "cancelled": set(),
}
MOVERS: dict[str, set[str]] = {
    "in_progress": {"master", "admin"},
    "completed": {"master", "admin"},
    "cancelled": {"client", "admin"},
}


def order_out(order: Order) -> OrderOut:
    master = order.master
    return OrderOut(
        id=order.id, status=order.status, appliance_type=order.appliance_type,
        problem=order.problem, address=order.address, lat=order.lat, lon=order.lon,
        client_id=order.client_id, master_id=order.master_id,
        client=Contact(id=order.client.id, name=order.client.name, phone=order.client.phone),
        master=Contact(id=master.id, name=master.user.name, phone=master.user.phone)
        if master else None,
        created_at=order.created_at, updated_at=order.updated_at,
    )


def visible_to(actor: Actor) -> Select[Order]:
    """Orders the actor may see: its own (client), its accepted jobs (master), all (admin)."""
    query = select(Order)
    if actor.role == "client":
        return query.where(Order.client_id == actor.user_id)
    if actor.role == "master":
        return query.where(Order.master_id == actor.master_id)
    return query


@retry_transient
async def create_order(ctx: Context, *, actor: Actor, data: OrderIn) -> OrderOut:
    """Place an order and offer it at once to the best eligible master."""
    require_role(actor, "client", "admin")
    async with ctx.db.transaction() as uow:
        now = utcnow()
        order = Order(client_id=actor.user_id, status="new", created_at=now, updated_at=now,
                      **data.model_dump())
        uow.session.add(order)
        await uow.session.flush()
        log.info("order %s placed by user %s: %s", order.id, actor.user_id, order.appliance_type)
        # No other transaction can see the order yet: nothing to lock, no offer to look for.
        await dispatch_placed_order(ctx, uow, order=order)
        uow.after_commit(ORDERS_PLACED.inc)
        # Loaded as they are, without a write: a new order has no master until one accepts.
        set_committed_value(order, "client", await uow.session.get_one(User, actor.user_id))
        set_committed_value(order, "master", None)
    return order_out(order)


async def list_orders(ctx: Context, *, actor: Actor, status: str | None = None,
                      limit: int = 100, offset: int = 0) -> list[OrderOut]:
    query = visible_to(actor)
    if status is not None:
        query = query.where(Order.status == status)
    async with ctx.db.session() as session:
        orders = await session.scalars(query.order_by(Order.id.desc()).limit(limit)
                                       .offset(offset))
        return [order_out(o) for o in orders]


async def get_order(ctx: Context, *, actor: Actor, order_id: int) -> OrderOut:
    async with ctx.db.session() as session:
        order = await session.scalar(visible_to(actor).where(Order.id == order_id))
    if order is None:
        raise NotFound(f"order {order_id} not found")
    return order_out(order)


@retry_transient
async def change_status(ctx: Context, *, actor: Actor, order_id: int, status: str) -> OrderOut:
    """Move an order along its status machine; 409 for a move the machine forbids."""
    async with ctx.db.transaction() as uow:
        session = uow.session
        order = await session.scalar(
            visible_to(actor).where(Order.id == order_id).with_for_update(of=Order)
        )
        if order is None:
            raise NotFound(f"order {order_id} not found")
        previous = order.status
        _check_move(actor, order, status)
        order.status, order.updated_at = status, utcnow()  # the row is locked: no one else moves it
        await session.flush()
        notify_status(uow, order)
        if previous == "new":  # a cancelled search withdraws its offer
            withdrawn = await withdraw_offers(uow, where=Assignment.order_id == order_id,
                                              status="cancelled")
            await redispatch(ctx, uow, withdrawn)
        elif status in ("completed", "cancelled") and order.master is not None:
            order.master.idle_since = utcnow()
            await session.flush()
            await dispatch_for_master(ctx, uow, master_id=order.master.id)
    log.info("order %s: %s -> %s by user %s", order_id, previous, status, actor.user_id)
    return order_out(order)


def _check_move(actor: Actor, order: Order, status: str) -> None:
    if status not in TRANSITIONS[order.status]:
        hint = "; orders become assigned when a master accepts" if status == "assigned" else ""
        raise Conflict(f"order {order.id} is {order.status} and cannot become {status}{hint}")
    if actor.role not in MOVERS[status]:
        raise Forbidden(f"a {actor.role} cannot move an order to {status}")
