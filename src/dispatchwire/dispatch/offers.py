"""The dispatch core: making, withdrawing and re-making offers inside a unit of work.

Every function here runs in the caller's transaction, so a change and the offers and events it
causes commit together or not at all.

Lock order, to keep concurrent transactions on PostgreSQL from deadlocking: a master's row,
then orders (several in id order), then their offers; users' rows last, when events are
numbered at commit. Whatever changes an offer locks its order first.
"""

import logging
import math
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Row, String, case, cast, exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dispatchwire.clock import isoformat, utcnow
from dispatchwire.context import Context
from dispatchwire.db import UnitOfWork
from dispatchwire.dispatch.models import Assignment
from dispatchwire.dispatch.selection import rank_masters
from dispatchwire.masters.models import Master
from dispatchwire.metrics import OFFERS_MADE, OFFERS_RESOLVED
from dispatchwire.orders.models import ACTIVE_JOB_STATUSES, Order

__all__ = [
    "dispatch_for_master",
    "dispatch_order",
    "dispatch_placed_order",
    "lock_order",
    "lock_orders",
    "make_offer",
    "notify_status",
    "offer_payload",
    "redispatch",
    "withdraw_offers",
]

log = logging.getLogger(__name__)

REFUSED = ("rejected", "expired")  # a master who refused an order is not asked again
CANDIDATES = 64  # the best eligible masters read per order, ranked exactly here
LIVE_IN_LIST = 256  # up to this many live masters are looked up by id first


class MasterRef(Protocol):
    """The two ids an offer needs: a `Master`, or a row with those columns."""

    @property
    def id(self) -> int: ...
    @property
    def user_id(self) -> int: ...


def offer_payload(assignment: Assignment, order: Order) -> dict[str, object]:
    """The `assignment` object of `new_assignment`: basic information only."""
    return {
        "id": assignment.id, "orderId": order.id, "applianceType": order.appliance_type,
        "problem": order.problem, "address": order.address,
        "expiresAt": isoformat(assignment.expires_at),
        "createdAt": isoformat(assignment.created_at),
    }


async def lock_orders(session: AsyncSession, order_ids: Iterable[int]) -> None:
    """Lock orders' rows, in id order, until the transaction ends (PostgreSQL)."""
    await session.execute(
        select(Order.id).where(Order.id.in_(set(order_ids))).order_by(Order.id).with_for_update()
    )


async def lock_order(session: AsyncSession, order_id: int) -> Order | None:
    """Load an order and lock its row until the transaction ends (PostgreSQL)."""
    return await session.scalar(
        select(Order).where(Order.id == order_id)
        .with_for_update(of=Order).execution_options(populate_existing=True)
    )


async def make_offer(ctx: Context, uow: UnitOfWork, *, order: Order, master: MasterRef,
                     now: datetime | None = None) -> Assignment | None:
    """Offer `order` to `master`; None if a concurrent transaction gave either an offer first."""
    now = now or utcnow()
    expires_at = now + timedelta(seconds=ctx.settings.assignment_timeout_s)
    offer = Assignment(order_id=order.id, master_id=master.id, status="pending",
                       created_at=now, expires_at=expires_at)
    try:
        async with uow.session.begin_nested():
            uow.session.add(offer)
            await uow.session.flush()
    except IntegrityError:  # the partial unique indexes: one pending offer per master and order
        return None
    uow.emit(master.user_id, "new_assignment", {"assignment": offer_payload(offer, order)})
    uow.after_commit(lambda: ctx.alarm.note(expires_at))
    uow.after_commit(OFFERS_MADE.inc)
    log.info("offer %s: order %s to master %s until %s", offer.id, order.id, master.id,
             isoformat(expires_at))
    return offer


async def withdraw_offers(uow: UnitOfWork, *, where: ColumnElement[bool], status: str,
                          now: datetime | None = None, limit: int | None = None
                          ) -> list[tuple[int, int, int]]:
    """Move matching pending offers to `status` and tell their masters.

    Their orders are locked first, then one conditional update moves the offers that are still
    pending: concurrent callers (on any process) never move the same offer twice. Returns
    `(assignment_id, order_id, master_id)` of each offer this call moved.
    """
    now = now or utcnow()
    chosen = select(Assignment.id, Assignment.order_id).where(Assignment.status == "pending",
                                                              where)
    if limit is not None:
        chosen = chosen.order_by(Assignment.expires_at).limit(limit)
    candidates = (await uow.session.execute(chosen)).all()
    if not candidates:
        return []
    await lock_orders(uow.session, (order_id for _, order_id in candidates))
    rows = (await uow.session.execute(
        update(Assignment)
        .where(Assignment.id.in_([assignment_id for assignment_id, _ in candidates]),
               Assignment.status == "pending", where)
        .values(status=status, resolved_at=now)
        .returning(Assignment.id, Assignment.order_id, Assignment.master_id)
        .execution_options(synchronize_session=False)
    )).all()  # fewer than the candidates when a concurrent caller moved some meanwhile
    users = await _user_ids(uow.session, [row[2] for row in rows])
    if rows:
        uow.after_commit(lambda: OFFERS_RESOLVED.labels(status).inc(len(rows)))
    for assignment_id, order_id, master_id in rows:
        uow.emit(users[master_id], "assignment_expired", {"assignmentId": assignment_id})
        log.info("offer %s of order %s to master %s: %s", assignment_id, order_id, master_id,
                 status)
    return [tuple(row) for row in rows]  # type: ignore[misc]


async def dispatch_order(ctx: Context, uow: UnitOfWork, *, order_id: int,
                         look_again: bool = True) -> Assignment | None:
    """Offer a waiting order to the best eligible master, or leave it waiting."""
    order = await lock_order(uow.session, order_id)
    if order is None or order.status != "new" or await _has_pending_offer(uow.session, order.id):
        return None
    return await dispatch_placed_order(ctx, uow, order=order, look_again=look_again)


async def dispatch_placed_order(ctx: Context, uow: UnitOfWork, *, order: Order,
                                look_again: bool = True) -> Assignment | None:
    """Offer an order in `new` with no pending offer, locked or placed in this transaction."""
    for master in await _candidates(uow.session, order, ctx.presence.live_master_ids()):
        if (offer := await make_offer(ctx, uow, order=order, master=master)) is not None:
            return offer
    log.info("order %s waits: no eligible master for %s", order.id, order.appliance_type)
    if look_again:
        _look_again_after_commit(ctx, uow, order_id=order.id)
    return None


async def dispatch_for_master(ctx: Context, uow: UnitOfWork, *, master_id: int,
                              look_again: bool = True) -> Assignment | None:
    """Offer the oldest waiting order this master may take, if the master is free."""
    session = uow.session
    master = await session.get(Master, master_id, populate_existing=True)
    if master is None or not master.on_shift or not await _is_free(session, master.id):
        return None
    for order_id in await _waiting_orders_for(session, master):
        order = await lock_order(session, order_id)
        if order is None or order.status != "new" or await _has_pending_offer(session, order_id):
            continue  # taken meanwhile by a concurrent dispatcher
        if (offer := await make_offer(ctx, uow, order=order, master=master)) is not None:
            return offer
    if look_again:
        _look_again_after_commit(ctx, uow, master_id=master_id)
    return None


def _look_again_after_commit(ctx: Context, uow: UnitOfWork, *, order_id: int | None = None,
                             master_id: int | None = None) -> None:
    """Dispatch once more in a new transaction after this one commits (PostgreSQL only).

    Under READ COMMITTED two transactions can each miss the other's uncommitted change: a master
    goes on shift while an order is placed, neither sees the other, and the order would wait
    beside an idle master. A second look after the commit closes the gap, since whichever of the
    two commits last then sees both. SQLite runs one writer at a time and needs no second look.
    """
    if ctx.db.is_sqlite:
        return

    async def look_again() -> None:
        async with ctx.db.transaction() as retry:
            if order_id is not None:
                await dispatch_order(ctx, retry, order_id=order_id, look_again=False)
            if master_id is not None:
                await dispatch_for_master(ctx, retry, master_id=master_id, look_again=False)

    uow.follow_up(look_again)


async def redispatch(ctx: Context, uow: UnitOfWork, moved: Sequence[tuple[int, int, int]]
                     ) -> None:
    """After offers were refused or withdrawn: the orders move on, the masters get new work."""
    for _, order_id, _ in moved:
        await dispatch_order(ctx, uow, order_id=order_id)
    for master_id in dict.fromkeys(row[2] for row in moved):
        await dispatch_for_master(ctx, uow, master_id=master_id)


def notify_status(uow: UnitOfWork, order: Order) -> None:
    """`order_status_update` to the order's client and its master, if it has one."""
    payload = {"orderId": order.id, "status": order.status}
    uow.emit(order.client_id, "order_status_update", payload)
    if order.master is not None:
        uow.emit(order.master.user_id, "order_status_update", payload)


def _free_clause() -> ColumnElement[bool]:
    """Holds no pending offer and no job in `assigned` or `in_progress`."""
    holding = exists().where(Assignment.master_id == Master.id, Assignment.status == "pending")
    working = exists().where(Order.master_id == Master.id, Order.status.in_(ACTIVE_JOB_STATUSES))
    return ~holding & ~working


async def _is_free(session: AsyncSession, master_id: int) -> bool:
    return bool(await session.scalar(
        select(Master.id).where(Master.id == master_id, _free_clause())
    ))


async def _candidates(session: AsyncSession, order: Order, live: AbstractSet[int]
                      ) -> list[Row[Any]]:
    """The best eligible masters for `order`, best first (see `rank_masters`).

    The database filters and orders by everything but the live socket, which only this
    process knows, and returns a short list; with few live masters they are looked up by id
    first. Only when many masters are live but none of them is among the best free ones is the
    whole list of eligible masters read.
    """
    query = _eligible(order)
    rows: list[Row[Any]] = []
    if live and len(live) <= LIVE_IN_LIST:
        rows += (await session.execute(query.where(Master.id.in_(live)).limit(CANDIDATES))).all()
    rows += (await session.execute(query.limit(CANDIDATES))).all()
    if len(live) > LIVE_IN_LIST and len(rows) == CANDIDATES and not live & {r.id for r in rows}:
        rows = list((await session.execute(query)).all())
    unique = list({row.id: row for row in rows if _takes(row.specializations, order)}.values())
    return rank_masters(unique, lat=order.lat, lon=order.lon, live=live)


def _eligible(order: Order) -> Any:
    """On shift, free, matching, not refused before; nearest (roughly), then idle longest."""
    refused = exists().where(Assignment.master_id == Master.id,
                             Assignment.order_id == order.id, Assignment.status.in_(REFUSED))
    matching = cast(Master.specializations, String)
    query = select(Master.id, Master.user_id, Master.specializations, Master.lat, Master.lon,
                   Master.idle_since).where(
        Master.on_shift, _free_clause(), ~refused,
        (matching == "[]") | matching.like(f'%"{_escaped(order.appliance_type)}"%', escape="\\"),
    )
    order_by: list[Any] = []
    if order.lat is not None and order.lon is not None:
        # Equirectangular distance squared: the same order as great-circle distance at a city's
        # scale; `rank_masters` ranks the short list by the exact distance.
        scale = math.cos(math.radians(order.lat))
        dlat, dlon = Master.lat - order.lat, (Master.lon - order.lon) * scale
        order_by += [case((Master.lat.is_(None) | Master.lon.is_(None), 1), else_=0),
                     dlat * dlat + dlon * dlon]
    # A master on shift always has `idle_since` (set when the shift starts).
    return query.order_by(*order_by, Master.idle_since, Master.id)


def _escaped(appliance_type: str) -> str:
    """A LIKE pattern's literal: types are `[a-z0-9_]`, and `_` is LIKE's one-character wildcard."""
    return appliance_type.replace("_", "\\_")


def _takes(specializations: list[str] | None, order: Order) -> bool:
    return not specializations or order.appliance_type in specializations


async def _waiting_orders_for(session: AsyncSession, master: Master, limit: int = 20
                              ) -> list[int]:
    pending = exists().where(Assignment.order_id == Order.id, Assignment.status == "pending")
    refused = exists().where(Assignment.order_id == Order.id,
                             Assignment.master_id == master.id, Assignment.status.in_(REFUSED))
    query = select(Order.id).where(Order.status == "new", ~pending, ~refused)
    if master.specializations:
        query = query.where(Order.appliance_type.in_(master.specializations))
    return list(await session.scalars(query.order_by(Order.created_at, Order.id).limit(limit)))


async def _has_pending_offer(session: AsyncSession, order_id: int) -> bool:
    return bool(await session.scalar(
        select(Assignment.id).where(Assignment.order_id == order_id,
                                    Assignment.status == "pending")
    ))


async def _user_ids(session: AsyncSession, master_ids: list[int]) -> dict[int, int]:
    if not master_ids:
        return {}
    rows = await session.execute(
        select(Master.id, Master.user_id).where(Master.id.in_(set(master_ids)))
    )
    return {master_id: user_id for master_id, user_id in rows}
