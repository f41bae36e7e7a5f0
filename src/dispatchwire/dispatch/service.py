"""What masters and admins do with offers: list, accept, reject, and offer by hand."""

import logging
from datetime import datetime, timedelta
from typing import Any, NoReturn

from dispatchwire.actors import Actor, Role, require_master, require_role
from dispatchwire.clock import utcnow
from dispatchwire.context import Context
from dispatchwire.dispatch.eligibility import MasterFacts, OrderFacts, why_not_free
from dispatchwire.dispatch.escalation import escalate_refused
from dispatchwire.dispatch.models import DeliveredVia, EndReason, OfferStatus
from dispatchwire.dispatch.offers import Withdrawn, lock_orders, make_offer, withdraw_offers
from dispatchwire.dispatch.receipts import delivered, record_deliveries
from dispatchwire.dispatch.rounds import dispatch_for_master, redispatch
from dispatchwire.dispatch.schemas import AcceptOut, AssignmentOut, OfferOut, RejectOut
from dispatchwire.errors import Conflict, NotFound
from dispatchwire.metrics import OFFERS_RESOLVED, PENDING_POLLS
from dispatchwire.orders import timeline
from dispatchwire.orders.models import OrderStatus, StepKind
from dispatchwire.orders.notices import notify_status
from dispatchwire.orders.queries import ORDER_ROW, OrderRead
from dispatchwire.store import Sql, UnitOfWork, retry_transient

__all__ = ["accept", "offer_by_hand", "pending_offers", "reject"]

log = logging.getLogger(__name__)

# An offer with what it tells of its order: `_offer_from_row` reads it.
_OFFER_ROW = ("SELECT a.id, a.created_at, a.expires_at, o.id, o.appliance_type, o.problem,"
              " o.address, o.lat, o.lon, a.delivered_at, a.delivered_via, a.master_id,"
              " a.status, a.resolved_at FROM assignments a JOIN orders o ON o.id = a.order_id")


async def pending_offers(ctx: Context, *, actor: Actor) -> list[OfferOut]:
    """The master's offers still open: the fallback-polling view. What it returns counts as
    delivered, and a master marked unreachable is back."""
    master_id = require_master(actor)
    PENDING_POLLS.labels(str(master_id)).inc()
    now = utcnow()
    offers = await _pending_of(ctx, master_id, now)
    undelivered = [offer.id for offer in offers if offer.delivered_at is None]
    if await ctx.due_receipts.settle(undelivered):  # an ack that came first is the one kept
        offers = await _pending_of(ctx, master_id, now)
        undelivered = [offer.id for offer in offers if offer.delivered_at is None]
    fresh = await record_deliveries(ctx, via=DeliveredVia.POLL, at=now,
                                    assignment_ids=undelivered)
    return [offer.model_copy(update={"delivered_at": now, "delivered_via": DeliveredVia.POLL})
            if offer.id in fresh else offer for offer in offers]


async def _pending_of(ctx: Context, master_id: int, now: datetime) -> list[OfferOut]:
    async with ctx.db.read() as sql:
        rows = await sql.rows(
            f"{_OFFER_ROW} WHERE a.master_id = :master_id AND a.status = '{OfferStatus.PENDING}'"
            " AND a.expires_at > :now ORDER BY a.id",
            {"master_id": master_id, "now": sql.time(now)})
        return [_offer_from_row(sql, row, OfferOut) for row in rows]


@retry_transient
async def accept(ctx: Context, *, actor: Actor, assignment_id: int) -> AcceptOut:
    """Take the job; of any number of concurrent accepts exactly one gets here."""
    master_id = require_master(actor)
    await ctx.due_receipts.settle([assignment_id])  # see `_answer`
    async with ctx.db.transaction() as uow:
        sql = uow.sql
        now = utcnow()
        order_id = await _answer(uow, master_id, assignment_id, OfferStatus.ACCEPTED, now)
        taken = await sql.scalar(
            f"UPDATE orders SET status = '{OrderStatus.ASSIGNED}', master_id = :master_id,"
            f" updated_at = :now WHERE id = :order_id AND status = '{OrderStatus.NEW}'"
            " RETURNING id",
            {"master_id": master_id, "now": sql.time(now), "order_id": order_id})
        if taken is None:
            raise Conflict(f"order {order_id} is no longer waiting for a master")
        timeline.record(uow, order_id, StepKind.STATUS, at=now, master_id=master_id,
                        detail={"status": OrderStatus.ASSIGNED})
        # With fan-out the order's other offers end: it is taken. (With K = 1 it holds none.)
        others = await withdraw_offers(ctx, uow, order_id=order_id, reason=EndReason.TAKEN,
                                       now=now) if ctx.settings.offer_fanout > 1 else []
        # Not idle until the job ends (`orders.service.change_status` sets it again): dispatch
        # reads the masters idle longest first, and need not walk past those on a job.
        await sql.rows("UPDATE masters SET idle_since = NULL WHERE id = :master_id",
                       {"master_id": master_id})
        order = OrderRead.of(
            sql, await sql.first(f"{ORDER_ROW} WHERE o.id = :order_id", {"order_id": order_id}))
        notify_status(ctx, uow, order_id=order.id, status=order.status,
                      client_id=order.client_id, master_user_id=order.master_user_id)
        assignment = await _assignment(sql, assignment_id)
        for other in others:  # free again: what waits for them comes to them
            await dispatch_for_master(ctx, uow, master_id=other.master_id)
        uow.after_commit(OFFERS_RESOLVED.labels(OfferStatus.ACCEPTED).inc)
    log.info("offer %s accepted: order %s to master %s", assignment_id, order_id, master_id)
    return AcceptOut(assignment=assignment, order=order.model())


@retry_transient
async def reject(ctx: Context, *, actor: Actor, assignment_id: int) -> RejectOut:
    """Decline; the order moves on to the next master (once its round has ended), and this
    master may get another (after DISPATCHWIRE_DECLINE_COOLDOWN_S)."""
    master_id = require_master(actor)
    await ctx.due_receipts.settle([assignment_id])  # see `_answer`
    async with ctx.db.transaction() as uow:
        now = utcnow()
        order_id = await _answer(uow, master_id, assignment_id, OfferStatus.REJECTED, now)
        await _cool_down(ctx, uow, master_id=master_id, now=now)
        await escalate_refused(ctx, uow, order_ids=[order_id], now=now)
        await redispatch(ctx, uow, [Withdrawn(assignment_id, order_id, master_id)])
        assignment = await _assignment(uow.sql, assignment_id)
        uow.after_commit(OFFERS_RESOLVED.labels(OfferStatus.REJECTED).inc)
    log.info("offer %s rejected by master %s", assignment_id, master_id)
    return RejectOut(assignment=assignment)


@retry_transient
async def offer_by_hand(ctx: Context, *, actor: Actor, order_id: int, master_id: int
                        ) -> AssignmentOut:
    """An admin offers a waiting order to a chosen on-shift master, replacing its offer."""
    require_role(actor, Role.ADMIN)
    async with ctx.db.transaction() as uow:
        sql = uow.sql
        await lock_orders(sql, [order_id])
        row = await sql.first("SELECT o.id, o.appliance_type, o.problem, o.address, o.lat,"
                              " o.lon, o.status FROM orders o WHERE o.id = :order_id",
                              {"order_id": order_id})
        if row is None:
            raise NotFound(f"order {order_id} not found")
        order, status = OrderFacts(*row[:6]), row[6]
        if status != OrderStatus.NEW:
            raise Conflict(f"order {order_id} is {status}; only new orders can be offered")
        master = await sql.first("SELECT id, user_id FROM masters WHERE id = :master_id",
                                 {"master_id": master_id})
        if master is None:
            raise NotFound(f"master {master_id} not found")
        if (reason := await why_not_free(sql, master_id=master_id, order_id=order_id)):
            raise Conflict(reason)
        withdrawn = await withdraw_offers(ctx, uow, order_id=order_id,
                                          reason=EndReason.WITHDRAWN)
        offer = await make_offer(ctx, uow, order=order, master=MasterFacts(*master),
                                 why={"how": "manual", "by": actor.user_id})
        if offer is None:
            raise Conflict(f"master {master_id} was given another offer meanwhile; try again")
        for previous in withdrawn:
            if previous.master_id != master_id:
                await dispatch_for_master(ctx, uow, master_id=previous.master_id)
        assignment = await _assignment(sql, offer.id)
    log.info("admin %s offered order %s to master %s by hand", actor.user_id, order_id, master_id)
    return assignment


async def _cool_down(ctx: Context, uow: UnitOfWork, *, master_id: int, now: datetime) -> None:
    """After a decline the master is offered nothing for DISPATCHWIRE_DECLINE_COOLDOWN_S; the
    expiry loop ends it (and offers him what waits)."""
    cooldown = ctx.settings.decline_cooldown_s
    if not cooldown:
        return
    until = now + timedelta(seconds=cooldown)
    await uow.sql.rows("UPDATE masters SET cooldown_until = :until WHERE id = :master_id",
                       {"until": uow.sql.time(until), "master_id": master_id})
    uow.after_commit(lambda: ctx.alarm.note(until))


async def _answer(uow: UnitOfWork, master_id: int, assignment_id: int, status: OfferStatus,
                  now: datetime) -> int:
    """Move the master's open offer to `status` in one conditional update; its order's id.

    The update re-checks `pending` and the deadline on the row it locks, so of any number of
    concurrent answers (or an answer racing the expiry loop) exactly one moves the offer.
    """
    sql = uow.sql
    params = {"id": assignment_id, "master_id": master_id, "status": status,
              "now": sql.time(now)}
    offered = await sql.scalar("SELECT order_id FROM assignments WHERE id = :id"
                               " AND master_id = :master_id", params)
    if offered is None:
        raise NotFound(f"assignment {assignment_id} not found")
    await lock_orders(sql, [offered])  # the order before its offer: see dispatch.offers
    # Answering proves the offer reached its master, if nothing did before (the caller has
    # stored first any receipt of it the gateway held: `DueReceipts`).
    row = await sql.first(
        "UPDATE assignments SET status = :status, resolved_at = :now,"
        " delivered_at = COALESCE(delivered_at, :now),"
        " delivered_via = COALESCE(delivered_via, :via), push_due_at = NULL,"
        f" undelivered_by = NULL WHERE id = :id AND master_id = :master_id"
        f" AND status = '{OfferStatus.PENDING}' AND expires_at > :now"
        " RETURNING order_id, delivered_via = :via AND delivered_at = :now, id, created_at,"
        " pushed_at, order_id, master_id", {**params, "via": DeliveredVia.ANSWER})
    if row is None:
        await _refuse(sql, assignment_id)
    if row[1]:
        await delivered(uow, [row[2:]], via=DeliveredVia.ANSWER, at=now)
    kind = StepKind.ACCEPTED if status == OfferStatus.ACCEPTED else StepKind.REJECTED
    timeline.record(uow, row[0], kind, at=now, assignment_id=assignment_id, master_id=master_id)
    return int(row[0])


async def _refuse(sql: Sql, assignment_id: int) -> NoReturn:
    """Explain why the caller's offer cannot be answered: it is not open any more (409)."""
    status, reason = await sql.first("SELECT status, end_reason FROM assignments WHERE id = :id",
                                     {"id": assignment_id}) or (None, None)
    if status == OfferStatus.PENDING:
        raise Conflict(f"assignment {assignment_id} has expired")
    why = {EndReason.TAKEN: ": another master took the order",
           EndReason.WITHDRAWN: ": it was withdrawn"}.get(reason, "")
    raise Conflict(f"assignment {assignment_id} is {status}, no longer pending{why}")


async def _assignment(sql: Sql, assignment_id: int) -> AssignmentOut:
    row = await sql.first(f"{_OFFER_ROW} WHERE a.id = :id", {"id": assignment_id})
    return _offer_from_row(sql, row, AssignmentOut)


def _offer_from_row(sql: Sql, row: Any, shape: type[OfferOut]) -> Any:
    """An `_OFFER_ROW` row as `shape` (an offer, or an assignment with its outcome)."""
    (offer_id, created_at, expires_at, *order, delivered_at, delivered_via, master_id, status,
     resolved_at) = row
    more: dict[str, Any] = {"delivered_via": DeliveredVia(delivered_via) if delivered_via else None,
                            "delivered_at": _time_or_none(sql, delivered_at)}
    if shape is not OfferOut:
        more |= {"master_id": master_id, "status": status,
                 "resolved_at": _time_or_none(sql, resolved_at)}
    return shape.of(offer_id=offer_id, order=OrderFacts(*order),
                    created_at=sql.read_time(created_at), expires_at=sql.read_time(expires_at),
                    **more)


def _time_or_none(sql: Sql, value: Any) -> datetime | None:
    return sql.read_time(value) if value is not None else None
