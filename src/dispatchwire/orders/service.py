"""Orders: placing them, reading what the caller may see, and moving them along."""

import logging

from sqlalchemy import Select, select

from dispatchwire.auth.service import Actor, require_role
from dispatchwire.clock import utcnow
from dispatchwire.context import Context
from dispatchwire.db import retry_transient
from dispatchwire.dispatch.offers import (
    OrderFacts,
    describe_offer,
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
from dispatchwire.sql import Sql

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
        sql = uow.sql
        now = utcnow()
        fields = data.model_dump()
        order_id, name, phone = await sql.first(_INSERT_ORDER, {
            **fields, "client_id": actor.user_id, "now": sql.time(now)}) or (None, "", None)
        # No other transaction can see the order yet: nothing to lock, no offer to look for.
        order = OrderFacts(order_id, data.appliance_type, data.problem, data.address, data.lat,
                           data.lon)
        offer = await dispatch_placed_order(ctx, uow, order=order, own_line=False)
        # One line for the order and its offer, once both are stored.
        uow.after_commit(lambda: log.info(
            "order %s placed by user %s: %s%s", order_id, actor.user_id, data.appliance_type,
            f"; offer {describe_offer(offer)}" if offer else ""))
        uow.after_commit(ORDERS_PLACED.inc)
    # As stored: a new order has no master until one accepts. Built from checked values, so
    # not validated again (the input's checks would cost ~25 µs here).
    return OrderOut.model_construct(
        id=order_id, status="new", **fields, client_id=actor.user_id, master_id=None,
        client=Contact.model_construct(id=actor.user_id, name=name, phone=phone), master=None,
        created_at=now, updated_at=now)


_INSERT_ORDER = (
    "INSERT INTO orders (client_id, status, appliance_type, problem, address, lat, lon,"
    " created_at, updated_at) VALUES (:client_id, 'new', :appliance_type, :problem, :address,"
    " :lat, :lon, :now, :now) RETURNING id,"  # and the client's contact, for the answer
    " (SELECT name FROM users WHERE id = :client_id),"
    " (SELECT phone FROM users WHERE id = :client_id)"
)


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
        sql = uow.sql
        order, master_user_id = await _locked_order(sql, actor, order_id)
        _check_move(actor, order, status)
        now = utcnow()
        # The row is locked: no one else moves it meanwhile.
        await sql.rows("UPDATE orders SET status = :status, updated_at = :now WHERE id = :id",
                       {"status": status, "now": sql.time(now), "id": order_id})
        notify_status(uow, order_id=order_id, status=status, client_id=order.client_id,
                      master_user_id=master_user_id)
        withdrawn: list[tuple[int, int, int]] = []
        if order.status == "new":  # a cancelled search withdraws its offer
            withdrawn = await withdraw_offers(uow, order_id=order_id, status="cancelled",
                                              own_lines=False)
            await redispatch(ctx, uow, withdrawn)
        elif status in ("completed", "cancelled") and order.master_id is not None:
            await sql.rows("UPDATE masters SET idle_since = :now WHERE id = :id",
                           {"now": sql.time(now), "id": order.master_id})
            await dispatch_for_master(ctx, uow, master_id=order.master_id)
    log.info("order %s: %s -> %s by user %s%s", order_id, order.status, status, actor.user_id,
             "".join(f"; offer {offer_id} to master {master_id} withdrawn"
                     for offer_id, _order_id, master_id in withdrawn))
    return order.model_copy(update={"status": status, "updated_at": now})


_ORDER_ROW = (
    "SELECT o.id, o.status, o.appliance_type, o.problem, o.address, o.lat, o.lon,"
    " o.client_id, c.name, c.phone, o.master_id, m.user_id, mu.name, mu.phone,"
    " o.created_at, o.updated_at"
    " FROM orders o JOIN users c ON c.id = o.client_id"
    " LEFT JOIN masters m ON m.id = o.master_id LEFT JOIN users mu ON mu.id = m.user_id"
    " WHERE o.id = :order_id"
)
_VISIBLE = {"client": " AND o.client_id = :user_id", "master": " AND o.master_id = :master_id",
            "admin": ""}


async def _locked_order(sql: Sql, actor: Actor, order_id: int) -> tuple[OrderOut, int | None]:
    """The order if the actor may see it (see `visible_to`), locked, and its master's user id;
    NotFound otherwise."""
    params = {"order_id": order_id, "user_id": actor.user_id, "master_id": actor.master_id}
    if sql.locks_rows:
        # Lock first, read after: a row locked after waiting is re-checked at its newest
        # version, but rows joined to it would still come from before the wait.
        await sql.rows(f"SELECT o.id FROM orders o WHERE o.id = :order_id"
                       f"{_VISIBLE[actor.role]}{sql.for_update()}", params)
    row = await sql.first(_ORDER_ROW + _VISIBLE[actor.role], params)
    if row is None:
        raise NotFound(f"order {order_id} not found")
    (id_, status, appliance_type, problem, address, lat, lon, client_id, client_name,
     client_phone, master_id, master_user_id, master_name, master_phone, created_at,
     updated_at) = row
    order = OrderOut.model_construct(  # as stored: nothing to validate
        id=id_, status=status, appliance_type=appliance_type, problem=problem, address=address,
        lat=lat, lon=lon, client_id=client_id, master_id=master_id,
        client=Contact.model_construct(id=client_id, name=client_name, phone=client_phone),
        master=Contact.model_construct(id=master_id, name=master_name, phone=master_phone)
        if master_id is not None else None,
        created_at=sql.read_time(created_at), updated_at=sql.read_time(updated_at))
    return order, master_user_id


def _check_move(actor: Actor, order: OrderOut, status: str) -> None:
    if status not in TRANSITIONS[order.status]:
        hint = "; orders become assigned when a master accepts" if status == "assigned" else ""
        raise Conflict(f"order {order.id} is {order.status} and cannot become {status}{hint}")
    if actor.role not in MOVERS[status]:
        raise Forbidden(f"a {actor.role} cannot move an order to {status}")
