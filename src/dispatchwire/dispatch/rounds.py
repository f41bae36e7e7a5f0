"""Rounds of offers: which masters an order is offered to, and which order a freed master gets.

An order placed, or whose round ended, is offered to the best eligible masters, up to
DISPATCHWIRE_OFFER_FANOUT at once in rank order (`dispatch_placed_order`, `redispatch`); a
master who becomes free gets the oldest waiting order he may take (`dispatch_for_master`). Who
may take an order is `eligibility.py` (SQL, written once); who comes first, `ranking.py`; the
offer itself, `offers.make_offer`. Everything runs in the caller's transaction; on PostgreSQL
a round that found no one looks once more after its commit (`_look_again_after_commit`).
"""

import logging
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from typing import Any

from dispatchwire.context import Context
from dispatchwire.dispatch.eligibility import (
    MasterFacts,
    OrderFacts,
    eligible_masters,
    free_master,
    waiting_orders_for,
)
from dispatchwire.dispatch.models import OfferStatus
from dispatchwire.dispatch.offers import Offer, Withdrawn, make_offer
from dispatchwire.dispatch.ranking import rank_masters, reasons
from dispatchwire.orders.models import OrderStatus
from dispatchwire.store import Sql, UnitOfWork
from dispatchwire.store.sql import int_list

__all__ = ["dispatch_for_master", "dispatch_order", "dispatch_placed_order", "redispatch",
           "seen"]

log = logging.getLogger(__name__)

CANDIDATES = 16  # the best eligible masters read per order, ranked exactly here
LIVE_IN_LIST = 256  # up to this many live masters are looked up by id first

_ORDER = "SELECT o.id, o.appliance_type, o.problem, o.address, o.lat, o.lon FROM orders o"
_PENDING_OF_ORDER = ("SELECT id FROM assignments WHERE order_id = :order_id"
                     f" AND status = '{OfferStatus.PENDING}'")


async def seen(ctx: Context, uow: UnitOfWork, *, master_id: int) -> bool:
    """The master showed up (a socket, a poll, a call): reachable again, and offered what waits
    for him. False if he was not marked unreachable (nothing changes)."""
    sql = uow.sql
    back = await sql.scalar("UPDATE masters SET unreachable_at = NULL WHERE id = :master_id"
                            " AND unreachable_at IS NOT NULL RETURNING user_id",
                            {"master_id": master_id})
    if back is None:
        return False
    uow.after_commit(lambda: ctx.known_users.forget(back))
    uow.after_commit(lambda: log.info("master %s seen again", master_id))
    await dispatch_for_master(ctx, uow, master_id=master_id)
    return True


async def dispatch_order(ctx: Context, uow: UnitOfWork, *, order_id: int,
                         look_again: bool = True) -> Offer | None:
    """Offer a waiting order to the best eligible master, or leave it waiting."""
    await uow.flush()
    order = await _waiting_order(uow.sql, order_id)
    if order is None:
        return None
    return await dispatch_placed_order(ctx, uow, order=order, look_again=look_again)


async def dispatch_placed_order(ctx: Context, uow: UnitOfWork, *, order: OrderFacts,
                                look_again: bool = True, log_it: bool = True) -> Offer | None:
    """Offer an order in `new` with no pending offer, locked or placed in this transaction, to
    the best eligible masters: up to DISPATCHWIRE_OFFER_FANOUT of them at once, in rank order.
    The first offer made, if any."""
    if made := await _fill_round(ctx, uow, order=order, made=[], log_it=log_it):
        return made[0]
    log.info("order %s waits: no eligible master for %s", order.id, order.appliance_type)
    if look_again:
        _look_again_after_commit(ctx, uow, order_id=order.id)
    return None


async def dispatch_for_master(ctx: Context, uow: UnitOfWork, *, master_id: int,
                              look_again: bool = True) -> Offer | None:
    """Offer the oldest waiting order this master may take, if the master is free."""
    await uow.flush()
    sql = uow.sql
    found = await free_master(sql, master_id)
    if found is None:
        return None
    master, specializations = found
    live = ctx.presence.live_master_ids()
    for order_id in await waiting_orders_for(sql, master_id, specializations):
        # The first look passes over an order another transaction holds (it is dispatching
        # or ending it): waiting for it here, while this transaction may hold another order,
        # closed cycles of orders. If nothing is offered, the look after the commit waits.
        order = await _waiting_order(sql, order_id, skip_locked=look_again)
        if order is None:
            continue  # taken meanwhile by a concurrent dispatcher, or held by one
        why = _why(sql, order, master, live, how="free")
        if (offer := await make_offer(ctx, uow, order=order, master=master,
                                      why=why)) is not None:
            if ctx.settings.offer_fanout > 1:  # a new round: the others of it too
                await _fill_round(ctx, uow, order=order, made=[offer])
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


async def redispatch(ctx: Context, uow: UnitOfWork, withdrawn: Sequence[Withdrawn]) -> None:
    """After offers were refused or withdrawn: the orders move on (those whose round has
    ended), the masters get new work."""
    for order_id in dict.fromkeys(offer.order_id for offer in withdrawn):
        await dispatch_order(ctx, uow, order_id=order_id)
    for master_id in dict.fromkeys(offer.master_id for offer in withdrawn):
        await dispatch_for_master(ctx, uow, master_id=master_id)


async def _waiting_order(sql: Sql, order_id: int, *,
                         skip_locked: bool = False) -> OrderFacts | None:
    """The order, locked, if it is `new` and holds no pending offer; with `skip_locked`, None
    at once if another transaction holds its lock."""
    row = await sql.first(f"{_ORDER} WHERE o.id = :order_id AND o.status = '{OrderStatus.NEW}'"
                          f"{sql.for_update(skip_locked=skip_locked)}", {"order_id": order_id})
    if row is None or await sql.first(_PENDING_OF_ORDER, {"order_id": order_id}):
        return None
    return OrderFacts(*row)


async def _fill_round(ctx: Context, uow: UnitOfWork, *, order: OrderFacts, made: list[Offer],
                      log_it: bool = True) -> list[Offer]:
    """Offer `order` to the best eligible masters until its round holds
    DISPATCHWIRE_OFFER_FANOUT offers (`made` are those it holds already); the round's offers."""
    fanout = ctx.settings.offer_fanout
    live = ctx.presence.live_master_ids()
    offered = {offer.master_id for offer in made}
    candidates = await _candidates(uow.sql, order, live, limit=CANDIDATES + fanout - 1)
    for rank, master in enumerate(candidates, 1):
        if master.id in offered:
            continue
        why = _why(uow.sql, order, master, live, how="ranked", rank=rank)
        offer = await make_offer(ctx, uow, order=order, master=master, log_it=log_it,
                                 slot=len(made), why=why)
        if offer is not None:
            made.append(offer)
            if len(made) >= fanout:
                break
    return made


def _why(sql: Sql, order: OrderFacts, master: MasterFacts, live: AbstractSet[int], *,
         how: str, rank: int | None = None) -> dict[str, Any]:
    """Why `master` is offered `order`, for the timeline (`ranking.reasons`)."""
    # as stored, cut to the wire's form (not parsed and formatted again: an order's hot path)
    idle_since = sql.wire_time(master.idle_raw) if master.idle_raw is not None else None
    return reasons(master, lat=order.lat, lon=order.lon, live=live, idle_since=idle_since,
                   how=how, rank=rank)


async def _candidates(sql: Sql, order: OrderFacts, live: AbstractSet[int], *,
                      limit: int = CANDIDATES) -> list[MasterFacts]:
    """The best eligible masters for `order`, best first (see `rank_masters`).

    The database filters and orders by everything but the live socket, which only this
    process knows, and returns a short list; with few live masters they are looked up by id
    first. Only when many masters are live but none of them is among the best free ones is the
    whole list of eligible masters read.
    """
    query, params = eligible_masters(order)
    rows: list[Any] = []
    if live and len(live) <= LIVE_IN_LIST:
        rows += await sql.rows(query.format(live=f"AND m.id IN ({int_list(live)})",
                                            limit=f"LIMIT {limit}"), params)
    rows += await sql.rows(query.format(live="", limit=f"LIMIT {limit}"), params)
    if len(live) > LIVE_IN_LIST and len(rows) == limit and not live & {r[0] for r in rows}:
        rows = await sql.rows(query.format(live="", limit=""), params)
    located = order.lat is not None and order.lon is not None
    masters: dict[int, MasterFacts] = {}
    for id_, user_id, lat, lon, idle_since in rows:
        if id_ not in masters:
            masters[id_] = MasterFacts(id_, user_id, lat, lon, sql.read_time(idle_since)
                                       if located and idle_since else None, idle_since)
    if not located:
        # No distance to weigh: the rows came idle longest first (live ones first when
        # listed), so a stable sort on the live socket alone ranks them as `rank_masters`
        # would, without reading every row's time (~1 µs each).
        return sorted(masters.values(), key=lambda master: master.id not in live)
    return rank_masters(masters.values(), lat=order.lat, lon=order.lon, live=live)
