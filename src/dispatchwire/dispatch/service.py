"""What masters and admins do with offers: list, accept, reject, and offer by hand."""

import logging
from datetime import datetime
from typing import NoReturn

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dispatchwire.auth.service import Actor, require_master, require_role
from dispatchwire.clock import utcnow
from dispatchwire.context import Context
from dispatchwire.db import UnitOfWork, retry_transient
from dispatchwire.dispatch.models import Assignment
from dispatchwire.dispatch.offers import (
    dispatch_for_master,
    lock_orders,
    make_offer,
    notify_status,
    redispatch,
    withdraw_offers,
)
from dispatchwire.dispatch.schemas import AcceptOut, AssignmentOut, OfferOut, RejectOut
from dispatchwire.errors import Conflict, NotFound
from dispatchwire.masters.models import Master
from dispatchwire.metrics import OFFERS_RESOLVED, PENDING_POLLS
from dispatchwire.orders.models import ACTIVE_JOB_STATUSES, Order
from dispatchwire.orders.service import order_out

__all__ = ["accept", "offer_by_hand", "pending_offers", "reject"]

log = logging.getLogger(__name__)


async def pending_offers(ctx: Context, *, actor: Actor) -> list[OfferOut]:
    """The master's offers still open: the fallback-polling view."""
    master_id = require_master(actor)
    PENDING_POLLS.labels(str(master_id)).inc()
    async with ctx.db.session() as session:
        offers = await session.scalars(
            select(Assignment)
            .where(Assignment.master_id == master_id, Assignment.status == "pending",
                   Assignment.expires_at > utcnow())
            .order_by(Assignment.id)
        )
        return [_offer_out(a) for a in offers]


@retry_transient
async def accept(ctx: Context, *, actor: Actor, assignment_id: int) -> AcceptOut:
    """Take the job; of any number of concurrent accepts exactly one gets here."""
    master_id = require_master(actor)
    async with ctx.db.transaction() as uow:
        now = utcnow()
        order_id = await _answer(uow, master_id, assignment_id, "accepted", now)
        taken = await uow.session.scalar(
            update(Order).where(Order.id == order_id, Order.status == "new")
            .values(status="assigned", master_id=master_id, updated_at=now)
            .returning(Order.id).execution_options(synchronize_session=False)
        )
        if taken is None:
            raise Conflict(f"order {order_id} is no longer waiting for a master")
        # Not idle until the job ends (`orders.service.change_status` sets it again): dispatch
        # reads the masters idle longest first, and need not walk past those on a job.
        await uow.session.execute(update(Master).where(Master.id == master_id)
                                  .values(idle_since=None)
                                  .execution_options(synchronize_session=False))
        order = await uow.session.get_one(Order, order_id, populate_existing=True)
        notify_status(uow, order_id=order.id, status=order.status, client_id=order.client_id,
                      master_user_id=order.master.user_id if order.master else None)
        assignment = await _load(uow.session, assignment_id)
        uow.after_commit(OFFERS_RESOLVED.labels("accepted").inc)
    log.info("offer %s accepted: order %s to master %s", assignment_id, order_id, master_id)
    return AcceptOut(assignment=_assignment_out(assignment), order=order_out(order))


@retry_transient
async def reject(ctx: Context, *, actor: Actor, assignment_id: int) -> RejectOut:
    """Decline; the order moves on to the next master and this master may get another."""
    master_id = require_master(actor)
    async with ctx.db.transaction() as uow:
        order_id = await _answer(uow, master_id, assignment_id, "rejected", utcnow())
        await redispatch(ctx, uow, [(assignment_id, order_id, master_id)])
        assignment = await _load(uow.session, assignment_id)
        uow.after_commit(OFFERS_RESOLVED.labels("rejected").inc)
    log.info("offer %s rejected by master %s", assignment_id, master_id)
    return RejectOut(assignment=_assignment_out(assignment))


@retry_transient
async def offer_by_hand(ctx: Context, *, actor: Actor, order_id: int, master_id: int
                        ) -> AssignmentOut:
    """An admin offers a waiting order to a chosen on-shift master, replacing its offer."""
    require_role(actor, "admin")
    async with ctx.db.transaction() as uow:
        session = uow.session
        order = await session.scalar(
            select(Order).where(Order.id == order_id)
            .with_for_update(of=Order).execution_options(populate_existing=True)
        )
        if order is None:
            raise NotFound(f"order {order_id} not found")
        if order.status != "new":
            raise Conflict(f"order {order_id} is {order.status}; only new orders can be offered")
        master = await session.get(Master, master_id)
        if master is None:
            raise NotFound(f"master {master_id} not found")
        await _check_can_take(session, master, order_id)
        withdrawn = await withdraw_offers(uow, order_id=order_id, status="cancelled")
        offer = await make_offer(ctx, uow, order=order, master=master)
        if offer is None:
            raise Conflict(f"master {master_id} was given another offer meanwhile; try again")
        for _, _, previous in withdrawn:
            if previous != master_id:
                await dispatch_for_master(ctx, uow, master_id=previous)
        assignment = await _load(session, offer.id)
    log.info("admin %s offered order %s to master %s by hand", actor.user_id, order_id, master_id)
    return _assignment_out(assignment)


async def _check_can_take(session: AsyncSession, master: Master, order_id: int) -> None:
    if not master.on_shift:
        raise Conflict(f"master {master.id} is not on shift")
    other = await session.scalar(
        select(Assignment.id).where(Assignment.master_id == master.id,
                                    Assignment.status == "pending",
                                    Assignment.order_id != order_id)
    )
    if other is not None:
        raise Conflict(f"master {master.id} already holds pending offer {other}")
    job = await session.scalar(
        select(Order.id).where(Order.master_id == master.id,
                               Order.status.in_(ACTIVE_JOB_STATUSES))
    )
    if job is not None:
        raise Conflict(f"master {master.id} is busy with order {job}")


async def _answer(uow: UnitOfWork, master_id: int, assignment_id: int, status: str,
                  now: datetime) -> int:
    """Move the master's open offer to `status` in one conditional update; its order's id.

    The update re-checks `pending` and the deadline on the row it locks, so of any number of
    concurrent answers (or an answer racing the expiry loop) exactly one moves the offer.
    """
    session = uow.session
    offered = await session.scalar(
        select(Assignment.order_id).where(Assignment.id == assignment_id,
                                          Assignment.master_id == master_id)
    )
    if offered is None:
        raise NotFound(f"assignment {assignment_id} not found")
    await lock_orders(uow.sql, [offered])  # the order before its offer: see dispatch.offers
    order_id = await session.scalar(
        update(Assignment)
        .where(Assignment.id == assignment_id, Assignment.master_id == master_id,
               Assignment.status == "pending", Assignment.expires_at > now)
        .values(status=status, resolved_at=now)
        .returning(Assignment.order_id)
        .execution_options(synchronize_session=False)
    )
    if order_id is None:
        await _refuse(session, master_id, assignment_id)
    return order_id


async def _refuse(session: AsyncSession, master_id: int, assignment_id: int) -> NoReturn:
    """Explain why an offer cannot be answered: not the caller's (404) or not open (409)."""
    assignment = await session.get(Assignment, assignment_id)
    if assignment is None or assignment.master_id != master_id:
        raise NotFound(f"assignment {assignment_id} not found")
    if assignment.status == "pending":
        raise Conflict(f"assignment {assignment_id} has expired")
    raise Conflict(f"assignment {assignment_id} is {assignment.status}, no longer pending")


async def _load(session: AsyncSession, assignment_id: int) -> Assignment:
    return await session.get_one(Assignment, assignment_id, populate_existing=True)


def _offer_out(assignment: Assignment) -> OfferOut:
    order = assignment.order
    return OfferOut(id=assignment.id, order_id=order.id, appliance_type=order.appliance_type,
                    problem=order.problem, address=order.address,
                    expires_at=assignment.expires_at, created_at=assignment.created_at)


def _assignment_out(assignment: Assignment) -> AssignmentOut:
    basic = _offer_out(assignment)
    return AssignmentOut(**basic.model_dump(), master_id=assignment.master_id,
                         status=assignment.status, resolved_at=assignment.resolved_at)
