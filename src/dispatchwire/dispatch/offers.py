"""The dispatch core: making, withdrawing and re-making offers inside a unit of work.

Every function here runs in the caller's transaction, so a change and the offers and events it
causes commit together or not at all. This is the hot path of every order, so it speaks plain
SQL (`dispatchwire.sql`) on the transaction's connection; the session's pending changes are
flushed first, so the SQL sees what the caller changed through the ORM.

Lock order, to keep concurrent transactions on PostgreSQL from deadlocking: a master's row,
then orders (several in id order), then their offers; users' rows last, when events are
numbered at commit. Whatever changes an offer locks its order first.
"""

import logging
import math
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple, Protocol

from dispatchwire.clock import isoformat, utcnow
from dispatchwire.context import Context
from dispatchwire.db import UnitOfWork
from dispatchwire.dispatch.selection import rank_masters
from dispatchwire.metrics import OFFERS_MADE, OFFERS_RESOLVED
from dispatchwire.sql import Sql

__all__ = [
    "Offer",
    "OfferedOrder",
    "OrderFacts",
    "describe_offer",
    "dispatch_for_master",
    "dispatch_order",
    "dispatch_placed_order",
    "lock_orders",
    "make_offer",
    "notify_status",
    "redispatch",
    "withdraw_offers",
]

log = logging.getLogger(__name__)

CANDIDATES = 16  # the best eligible masters read per order, ranked exactly here
LIVE_IN_LIST = 256  # up to this many live masters are looked up by id first
WAITING_ORDERS = 20  # waiting orders a free master is matched against, oldest first


class MasterRef(Protocol):
    """The two ids an offer needs: a `Master`, or a row with those columns."""

    @property
    def id(self) -> int: ...
    @property
    def user_id(self) -> int: ...


class OfferedOrder(Protocol):
    """What an offer tells a master about its order: an `Order`, or an `OrderFacts`."""

    @property
    def id(self) -> int: ...
    @property
    def appliance_type(self) -> str: ...
    @property
    def problem(self) -> str: ...
    @property
    def address(self) -> str: ...
    @property
    def lat(self) -> float | None: ...
    @property
    def lon(self) -> float | None: ...


class OrderFacts(NamedTuple):
    id: int
    appliance_type: str
    problem: str
    address: str
    lat: float | None
    lon: float | None


class MasterFacts(NamedTuple):
    id: int
    user_id: int
    specializations: list[str]
    lat: float | None
    lon: float | None
    idle_since: datetime | None


@dataclass(frozen=True, slots=True)
class Offer:
    id: int
    order_id: int
    master_id: int
    created_at: datetime
    expires_at: datetime


# Shared conditions, as SQL over `masters m` and `orders o`.
_FREE = ("NOT EXISTS (SELECT 1 FROM assignments a WHERE a.master_id = m.id"
         " AND a.status = 'pending')"
         " AND NOT EXISTS (SELECT 1 FROM orders j WHERE j.master_id = m.id"
         " AND j.status IN ('assigned', 'in_progress'))")
_NOT_REFUSED = ("NOT EXISTS (SELECT 1 FROM assignments r WHERE r.master_id = {master}"
                " AND r.order_id = {order} AND r.status IN ('rejected', 'expired'))")
_MATCHING = ("(CAST(m.specializations AS VARCHAR) = '[]'"
             " OR CAST(m.specializations AS VARCHAR) LIKE :pattern ESCAPE '\\')")
_ORDER = "SELECT o.id, o.appliance_type, o.problem, o.address, o.lat, o.lon FROM orders o"
_PENDING_OF_ORDER = "SELECT id FROM assignments WHERE order_id = :order_id AND status = 'pending'"
_INSERT_OFFER = (
    "INSERT INTO assignments (order_id, master_id, status, created_at, expires_at)"
    " VALUES (:order_id, :master_id, 'pending', :created_at, :expires_at)"
    " ON CONFLICT DO NOTHING RETURNING id"
)


def offer_payload(offer: Offer, order: OfferedOrder) -> dict[str, object]:
    """The `assignment` object of `new_assignment`: basic information only."""
    return {
        "id": offer.id, "orderId": order.id, "applianceType": order.appliance_type,
        "problem": order.problem, "address": order.address,
        "expiresAt": isoformat(offer.expires_at), "createdAt": isoformat(offer.created_at),
    }


async def lock_orders(sql: Sql, order_ids: Iterable[int]) -> None:
    """Lock orders' rows, in id order, until the transaction ends (PostgreSQL).

    SQLite has one writer at a time and no row locks: nothing to do there.
    """
    if sql.locks_rows:
        await sql.rows(f"SELECT id FROM orders WHERE id IN ({_ints(order_ids)}) ORDER BY id"
                       f"{sql.for_update()}")


async def make_offer(ctx: Context, uow: UnitOfWork, *, order: OfferedOrder, master: MasterRef,
                     now: datetime | None = None, own_line: bool = True) -> Offer | None:
    """Offer `order` to `master`; None if a concurrent transaction gave either an offer first.

    With `own_line` False the caller's log line tells of the offer (one line per request).
    """
    now = now or utcnow()
    expires_at = now + timedelta(seconds=ctx.settings.assignment_timeout_s)
    sql = uow.sql
    # The partial unique indexes allow one pending offer per master and per order: a conflict
    # means someone else's offer won, and nothing is inserted.
    offer_id = await sql.scalar(_INSERT_OFFER, {
        "order_id": order.id, "master_id": master.id, "created_at": sql.time(now),
        "expires_at": sql.time(expires_at)})
    if offer_id is None:
        return None
    offer = Offer(offer_id, order.id, master.id, now, expires_at)
    uow.emit(master.user_id, "new_assignment", {"assignment": offer_payload(offer, order)})
    uow.after_commit(lambda: ctx.alarm.note(expires_at))
    uow.after_commit(OFFERS_MADE.inc)
    if own_line:
        uow.after_commit(lambda: log.info("offer %s", describe_offer(offer)))
    return offer


def describe_offer(offer: Offer) -> str:
    return (f"{offer.id}: order {offer.order_id} to master {offer.master_id}"
            f" until {isoformat(offer.expires_at)}")


async def withdraw_offers(uow: UnitOfWork, *, status: str, order_id: int | None = None,
                          master_id: int | None = None, due_by: datetime | None = None,
                          now: datetime | None = None, limit: int | None = None,
                          own_lines: bool = True) -> list[tuple[int, int, int]]:
    """Move pending offers of an order, of a master, or due by a time to `status`; tell masters.

    On PostgreSQL their orders are locked first, then one conditional update moves the offers
    that are still pending: concurrent callers (on any process) never move the same offer twice.
    On SQLite the update alone does it. With `limit`, the offers due first. Returns
    `(assignment_id, order_id, master_id)` of each offer moved. With `own_lines` False the
    caller's log line tells of them.
    """
    sql = uow.sql
    await uow.flush()  # the ORM changes so far, if any, before plain SQL
    now = now or utcnow()
    where, params = ["status = 'pending'"], {"status": status, "now": sql.time(now)}
    if order_id is not None:
        where.append("order_id = :order_id")
        params["order_id"] = order_id
    if master_id is not None:
        where.append("master_id = :master_id")
        params["master_id"] = master_id
    if due_by is not None:
        where.append("expires_at <= :due_by")
        params["due_by"] = sql.time(due_by)
    condition = " AND ".join(where)
    chosen = f"SELECT id, order_id FROM assignments WHERE {condition}"
    if limit is not None:
        chosen += f" ORDER BY expires_at LIMIT {int(limit)}"
    if sql.locks_rows:
        candidates = await sql.rows(chosen, params)
        if not candidates:
            return []
        await lock_orders(sql, (row[1] for row in candidates))
        # Fewer rows than candidates when a concurrent caller moved some meanwhile.
        ids, id_params = _bound("id", [row[0] for row in candidates])
        target, params = f"id IN ({ids}) AND {condition}", params | id_params
    else:  # one writer at a time: nothing to lock, nothing moves meanwhile
        target = condition if limit is None else f"id IN (SELECT id FROM ({chosen}))"
    rows = sorted(await sql.rows(
        f"UPDATE assignments SET status = :status, resolved_at = :now WHERE {target}"
        " RETURNING id, order_id, master_id,"
        " (SELECT user_id FROM masters WHERE masters.id = assignments.master_id)", params))
    if rows:
        uow.after_commit(lambda: _resolved(rows, status, own_lines))
    for assignment_id, _order_id, _master_id, user_id in rows:
        uow.emit(user_id, "assignment_expired", {"assignmentId": assignment_id})
    return [(row[0], row[1], row[2]) for row in rows]


def _resolved(rows: Sequence[Any], status: str, own_lines: bool) -> None:
    OFFERS_RESOLVED.labels(status).inc(len(rows))
    for assignment_id, order_id, master_id, _user_id in rows if own_lines else ():
        log.info("offer %s of order %s to master %s: %s", assignment_id, order_id, master_id,
                 status)


async def dispatch_order(ctx: Context, uow: UnitOfWork, *, order_id: int,
                         look_again: bool = True) -> Offer | None:
    """Offer a waiting order to the best eligible master, or leave it waiting."""
    await uow.flush()
    order = await _waiting_order(uow.sql, order_id)
    if order is None:
        return None
    return await dispatch_placed_order(ctx, uow, order=order, look_again=look_again)


async def dispatch_placed_order(ctx: Context, uow: UnitOfWork, *, order: OfferedOrder,
                                look_again: bool = True, own_line: bool = True) -> Offer | None:
    """Offer an order in `new` with no pending offer, locked or placed in this transaction."""
    for master in await _candidates(uow.sql, order, ctx.presence.live_master_ids()):
        if (offer := await make_offer(ctx, uow, order=order, master=master,
                                      own_line=own_line)) is not None:
            return offer
    log.info("order %s waits: no eligible master for %s", order.id, order.appliance_type)
    if look_again:
        _look_again_after_commit(ctx, uow, order_id=order.id)
    return None


async def dispatch_for_master(ctx: Context, uow: UnitOfWork, *, master_id: int,
                              look_again: bool = True) -> Offer | None:
    """Offer the oldest waiting order this master may take, if the master is free."""
    await uow.flush()
    sql = uow.sql
    row = await sql.first(
        f"SELECT m.id, m.user_id, m.specializations FROM masters m"
        f" WHERE m.id = :master_id AND m.on_shift = TRUE AND {_FREE}", {"master_id": master_id})
    if row is None:
        return None
    master = MasterFacts(row[0], row[1], sql.read_json(row[2]) or [], None, None, None)
    for order_id in await _waiting_orders_for(sql, master):
        order = await _waiting_order(sql, order_id)
        if order is None:
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


def notify_status(uow: UnitOfWork, *, order_id: int, status: str, client_id: int,
                  master_user_id: int | None) -> None:
    """`order_status_update` to the order's client and its master, if it has one."""
    payload = {"orderId": order_id, "status": status}
    uow.emit(client_id, "order_status_update", payload)
    if master_user_id is not None:
        uow.emit(master_user_id, "order_status_update", payload)


async def _waiting_order(sql: Sql, order_id: int) -> OrderFacts | None:
    """The order, locked, if it is `new` and holds no pending offer."""
    row = await sql.first(f"{_ORDER} WHERE o.id = :order_id AND o.status = 'new'"
                          f"{sql.for_update()}", {"order_id": order_id})
    if row is None or await sql.first(_PENDING_OF_ORDER, {"order_id": order_id}):
        return None
    return OrderFacts(*row)


async def _candidates(sql: Sql, order: OfferedOrder, live: AbstractSet[int]
                      ) -> list[MasterFacts]:
    """The best eligible masters for `order`, best first (see `rank_masters`).

    The database filters and orders by everything but the live socket, which only this
    process knows, and returns a short list; with few live masters they are looked up by id
    first. Only when many masters are live but none of them is among the best free ones is the
    whole list of eligible masters read.
    """
    query, params = _eligible(order)
    rows: list[Any] = []
    if live and len(live) <= LIVE_IN_LIST:
        rows += await sql.rows(query.format(live=f"AND m.id IN ({_ints(live)})",
                                            limit=f"LIMIT {CANDIDATES}"), params)
    rows += await sql.rows(query.format(live="", limit=f"LIMIT {CANDIDATES}"), params)
    if len(live) > LIVE_IN_LIST and len(rows) == CANDIDATES and not live & {r[0] for r in rows}:
        rows = await sql.rows(query.format(live="", limit=""), params)
    located = order.lat is not None and order.lon is not None
    masters: dict[int, MasterFacts] = {}
    for id_, user_id, specializations, lat, lon, idle_since in rows:
        kinds = [] if specializations in _NONE else sql.read_json(specializations) or []
        if id_ not in masters and (not kinds or order.appliance_type in kinds):
            masters[id_] = MasterFacts(id_, user_id, kinds, lat, lon, sql.read_time(idle_since)
                                       if located and idle_since else None)
    if not located:
        # No distance to weigh: the rows came idle longest first (live ones first when
        # listed), so a stable sort on the live socket alone ranks them as `rank_masters`
        # would, without reading every row's time (~1 µs each).
        return sorted(masters.values(), key=lambda master: master.id not in live)
    return rank_masters(masters.values(), lat=order.lat, lon=order.lon, live=live)


# A master without specializations, as each database returns the column.
_NONE: tuple[object, ...] = ("[]", [], None)


def _eligible(order: OfferedOrder) -> tuple[str, dict[str, Any]]:
    """On shift, free, matching, not refused before; nearest (roughly), then idle longest.

    A template with `{live}` (a further condition) and `{limit}` left to fill, and its
    parameters.
    """
    params: dict[str, Any] = {"order_id": order.id,
                              "pattern": f'%"{_escaped(order.appliance_type)}"%'}
    order_by = ""
    if order.lat is not None and order.lon is not None:
        # Equirectangular distance squared: the same order as great-circle distance at a city's
        # scale; `rank_masters` ranks the short list by the exact distance.
        params |= {"lat": order.lat, "lon": order.lon,
                   "scale": math.cos(math.radians(order.lat))}
        order_by = ("CASE WHEN m.lat IS NULL OR m.lon IS NULL THEN 1 ELSE 0 END,"
                    " (m.lat - :lat) * (m.lat - :lat)"
                    " + (m.lon - :lon) * :scale * (m.lon - :lon) * :scale, ")
    # A master on shift has `idle_since` (set when the shift starts and when a job ends), but for
    # the length of a job: the index then skips masters on a job instead of walking past each
    # (with thousands on jobs, that walk cost milliseconds per order). `_FREE` still decides.
    query = ("SELECT m.id, m.user_id, m.specializations, m.lat, m.lon, m.idle_since"
             " FROM masters m WHERE m.on_shift = TRUE AND m.idle_since IS NOT NULL"
             f" AND {_FREE}"
             f" AND {_NOT_REFUSED.format(master='m.id', order=':order_id')}"
             f" AND {_MATCHING} {{live}}"
             f" ORDER BY {order_by}m.idle_since, m.id {{limit}}")
    return query, params


def _escaped(appliance_type: str) -> str:
    """A LIKE pattern's literal: types are `[a-z0-9_]`, and `_` is LIKE's one-character wildcard."""
    return appliance_type.replace("_", "\\_")


async def _waiting_orders_for(sql: Sql, master: MasterFacts) -> list[int]:
    params: dict[str, Any] = {"master_id": master.id}
    kinds = ""
    if master.specializations:
        names, kind_params = _bound("kind", master.specializations)
        params |= kind_params
        kinds = f" AND o.appliance_type IN ({names})"
    rows = await sql.rows(
        "SELECT o.id FROM orders o WHERE o.status = 'new'"
        " AND NOT EXISTS (SELECT 1 FROM assignments p WHERE p.order_id = o.id"
        " AND p.status = 'pending')"
        f" AND {_NOT_REFUSED.format(master=':master_id', order='o.id')}{kinds}"
        f" ORDER BY o.created_at, o.id LIMIT {WAITING_ORDERS}", params)
    return [row[0] for row in rows]


def _bound(name: str, values: Sequence[Any]) -> tuple[str, dict[str, Any]]:
    """`:name0, :name1, ...` and their values: the same SQL text for the same count, which
    SQLite then prepares once (usually one id) instead of on every call."""
    names = [f"{name}{i}" for i in range(len(values))]
    return ", ".join(":" + n for n in names), dict(zip(names, values, strict=True))


def _ints(values: Iterable[int]) -> str:
    """Ids written into SQL: always integers, never text from outside."""
    return ", ".join(str(int(value)) for value in values)
