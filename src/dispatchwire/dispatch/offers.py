"""The dispatch engine: making, withdrawing and re-making offers inside a unit of work.

Every function here runs in the caller's transaction, so a change and the offers and events it
causes commit together or not at all. Who may take an order is `eligibility.py`; who of them
comes first, `ranking.py`. This is the hot path of every order, so it speaks plain SQL
(`store.sql`) on the transaction's connection; the session's pending changes are flushed
first, so the SQL sees what the caller changed through the ORM.

Lock order, to keep concurrent transactions on PostgreSQL from deadlocking: a master's row,
then orders (several in id order), then their offers; users' rows last, when events are
numbered at commit. Whatever changes an offer locks its order first.
"""

import logging
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from dispatchwire.clock import isoformat, parse_time, utcnow
from dispatchwire.context import Context
from dispatchwire.dispatch.eligibility import (
    MasterFacts,
    OrderFacts,
    eligible_masters,
    free_master,
    waiting_orders_for,
)
from dispatchwire.dispatch.models import EndReason, OfferStatus
from dispatchwire.dispatch.ranking import rank_masters, reasons
from dispatchwire.dispatch.schemas import OfferOut
from dispatchwire.events.types import EventType, PendingEvent, StoredEvent
from dispatchwire.metrics import OFFERS_MADE, OFFERS_RESOLVED, OFFERS_UNDELIVERED, labelled
from dispatchwire.orders import timeline
from dispatchwire.orders.models import OrderStatus, StepKind
from dispatchwire.push.jobs import JobKind, cancel_offer_pushes, enqueue_after_numbering
from dispatchwire.store import Sql, UnitOfWork
from dispatchwire.store.sql import bind_list, int_list

__all__ = [
    "Offer",
    "Withdrawn",
    "describe_offer",
    "dispatch_for_master",
    "dispatch_order",
    "dispatch_placed_order",
    "first_timer_of",
    "lock_orders",
    "make_offer",
    "mark_unreachable",
    "offer_in",
    "open_offer_in",
    "redispatch",
    "seen",
    "withdraw_offers",
]

log = logging.getLogger(__name__)

CANDIDATES = 16  # the best eligible masters read per order, ranked exactly here
LIVE_IN_LIST = 256  # up to this many live masters are looked up by id first


@dataclass(frozen=True, slots=True)
class Offer:
    id: int
    order_id: int
    master_id: int
    created_at: datetime
    expires_at: datetime


class Withdrawn(NamedTuple):
    """An offer that stopped being pending without an answer (expired or withdrawn)."""

    assignment_id: int
    order_id: int
    master_id: int


_ORDER = "SELECT o.id, o.appliance_type, o.problem, o.address, o.lat, o.lon FROM orders o"
_PENDING_OF_ORDER = ("SELECT id FROM assignments WHERE order_id = :order_id"
                     f" AND status = '{OfferStatus.PENDING}'")
# The offer is inserted only if this transaction claims its master (`Sql.try_claim`): a master
# another transaction is offering something right now is passed over, never waited for. (The
# unique index alone made the second inserter wait for the first while holding its order's
# lock; the first, dispatching a master freed by a cancel, then waited for that order: a
# deadlock PostgreSQL broke after a second, dozens of times a minute at 100 orders/s.)
_INSERT_OFFER = (
    "INSERT INTO assignments (order_id, master_id, status, created_at, expires_at,"
    " push_due_at, undelivered_by, slot)"
    f" SELECT :order_id, :master_id, '{OfferStatus.PENDING}', :created_at, :expires_at,"
    " :push_due_at, :undelivered_by, :slot WHERE {claimed}"
    " ON CONFLICT DO NOTHING RETURNING id"
)
MASTER_CLAIMS = 1  # the namespace of the masters' claims
# Offers end as `expired` when they ran out of time, `cancelled` when taken away.
_STATUS_OF = {EndReason.TIMEOUT: OfferStatus.EXPIRED, EndReason.UNDELIVERED: OfferStatus.EXPIRED,
              EndReason.WITHDRAWN: OfferStatus.CANCELLED, EndReason.TAKEN: OfferStatus.CANCELLED}
OFFER_END_TTL_S = 3600


async def lock_orders(sql: Sql, order_ids: Iterable[int]) -> None:
    """Lock orders' rows, in id order, until the transaction ends (PostgreSQL).

    SQLite has one writer at a time and no row locks: nothing to do there.
    """
    if sql.locks_rows:
        await sql.rows(f"SELECT id FROM orders WHERE id IN ({int_list(order_ids)}) ORDER BY id"
                       f"{sql.for_update()}")


async def make_offer(ctx: Context, uow: UnitOfWork, *, order: OrderFacts, master: MasterFacts,
                     now: datetime | None = None, log_it: bool = True, slot: int = 0,
                     why: dict[str, Any] | None = None) -> Offer | None:
    """Offer `order` to `master` in the order's `slot`; None if a concurrent transaction gave
    the master an offer, or filled the slot, first, or is offering him something now. `why`
    is the timeline's reason for this master.

    With `log_it` False the caller's log line tells of the offer (one line per request).
    """
    now = now or utcnow()
    settings = ctx.settings
    expires_at = now + timedelta(seconds=settings.assignment_timeout_s)
    undelivered_by = now + timedelta(seconds=settings.undelivered_timeout_s) \
        if settings.undelivered_timeout_s else None
    sql = uow.sql
    # The partial unique indexes allow one pending offer per master and per slot of an order:
    # a conflict means someone else's offer won, and nothing is inserted.
    claimed = sql.try_claim(MASTER_CLAIMS, "master_id")
    offer_id = await sql.scalar(_INSERT_OFFER.format(claimed=claimed), {
        "order_id": order.id, "master_id": master.id, "created_at": sql.time(now),
        "expires_at": sql.time(expires_at),
        "push_due_at": sql.time(now + timedelta(seconds=settings.push_after_s)),
        "undelivered_by": sql.time(undelivered_by) if undelivered_by else None, "slot": slot})
    if offer_id is None:
        return None
    timeline.record(uow, order.id, StepKind.OFFERED, at=now, assignment_id=offer_id,
                    master_id=master.id, detail={**(why or {}), "slot": slot})
    offer = Offer(offer_id, order.id, master.id, now, expires_at)
    event = ctx.outbox.emit(uow, master.user_id, EventType.NEW_ASSIGNMENT, OfferOut.event_payload(
        offer_id=offer_id, order=order, created_at=now, expires_at=expires_at))
    uow.before_commit(_EventOfOffer(offer_id, event).record)  # an `ack` names the event
    first_timer = min(filter(None, (expires_at, undelivered_by)))
    uow.after_commit(lambda: ctx.alarm.note(first_timer))
    uow.after_commit(OFFERS_MADE.inc)
    if log_it:
        uow.after_commit(lambda: log.info("offer %s", describe_offer(offer)))
    return offer


def describe_offer(offer: Offer) -> str:
    return (f"{offer.id}: order {offer.order_id} to master {offer.master_id}"
            f" until {isoformat(offer.expires_at)}")


class _EventOfOffer:
    """Records the id of an offer's `new_assignment` event on the offer, once numbered."""

    __slots__ = ("event", "offer_id")

    def __init__(self, offer_id: int, event: PendingEvent) -> None:
        self.offer_id, self.event = offer_id, event

    async def record(self, uow: UnitOfWork) -> None:
        await uow.sql.rows("UPDATE assignments SET event_id = :event_id WHERE id = :id",
                           {"event_id": self.event.event_id, "id": self.offer_id})


def offer_in(stored: StoredEvent) -> int | None:
    """The id of the offer a `new_assignment` event makes (None for other events)."""
    if stored.type != EventType.NEW_ASSIGNMENT:
        return None
    return int(stored.payload["assignment"]["id"])


def open_offer_in(stored: StoredEvent, now: datetime) -> int | None:
    """The id of the offer a `new_assignment` event makes, if its deadline is still ahead."""
    offer_id = offer_in(stored)
    if offer_id is None or _deadline(stored) <= now:
        return None
    return offer_id


def _deadline(stored: StoredEvent) -> datetime:
    """A `new_assignment` event's offer's deadline."""
    return parse_time(stored.payload["assignment"]["expiresAt"])


def first_timer_of(stored: StoredEvent, undelivered_after: timedelta | None) -> datetime | None:
    """When the offer a `new_assignment` event makes first needs the expiry loop: its deadline,
    or sooner, the moment it counts as undelivered, `undelivered_after` its making (None for
    other events). Every process runs this for every offer any process makes: the timedelta
    is made once by the caller (from float seconds it takes ~0.6 µs; this whole call ~0.55)."""
    if stored.type != EventType.NEW_ASSIGNMENT:
        return None
    deadline = _deadline(stored)
    if undelivered_after is None:
        return deadline
    undelivered = parse_time(stored.payload["assignment"]["createdAt"]) + undelivered_after
    return undelivered if undelivered < deadline else deadline


async def withdraw_offers(ctx: Context, uow: UnitOfWork, *, reason: EndReason,
                          order_id: int | None = None, master_id: int | None = None,
                          due_by: datetime | None = None, undelivered_by: datetime | None = None,
                          now: datetime | None = None, limit: int | None = None,
                          log_each: bool = True) -> list[Withdrawn]:
    """End pending offers of an order, of a master, due by a time, or undelivered by a time,
    for `reason`; tell their masters (and push the end to those whose offer was pushed).

    On PostgreSQL their orders are locked first, then one conditional update moves the offers
    that are still pending: concurrent callers (on any process) never move the same offer twice.
    On SQLite the update alone does it. With `limit`, the offers due first. With `log_each`
    False the caller's log line tells of them.
    """
    sql = uow.sql
    await uow.flush()  # the ORM changes so far, if any, before plain SQL
    now = now or utcnow()
    where = [f"status = '{OfferStatus.PENDING}'"]
    params: dict[str, Any] = {"status": _STATUS_OF[reason], "reason": reason,
                              "now": sql.time(now)}
    for column, value in (("order_id", order_id), ("master_id", master_id)):
        if value is not None:
            where.append(f"{column} = :{column}")
            params[column] = value
    first = "id"
    for column, moment in (("expires_at", due_by), ("undelivered_by", undelivered_by)):
        if moment is not None:
            where.append(f"{column} <= :{column}")
            params[column] = sql.time(moment)
            first = column
    condition = " AND ".join(where)
    chosen = f"SELECT id, order_id FROM assignments WHERE {condition}"
    if limit is not None:
        chosen += f" ORDER BY {first} LIMIT {int(limit)}"
    if sql.locks_rows:
        candidates = await sql.rows(chosen, params)
        if not candidates:
            return []
        await lock_orders(sql, (row[1] for row in candidates))
        # Fewer rows than candidates when a concurrent caller moved some meanwhile.
        ids, id_params = bind_list("id", [row[0] for row in candidates])
        target, params = f"id IN ({ids}) AND {condition}", params | id_params
    else:  # one writer at a time: nothing to lock, nothing moves meanwhile
        target = condition if limit is None else f"id IN (SELECT id FROM ({chosen}))"
    rows = sorted(await sql.rows(
        "UPDATE assignments SET status = :status, end_reason = :reason, resolved_at = :now,"
        f" push_due_at = NULL, undelivered_by = NULL WHERE {target}"
        " RETURNING id, order_id, master_id,"
        " (SELECT user_id FROM masters WHERE masters.id = assignments.master_id),"
        " pushed_at", params))  # not `IS NOT NULL`: SQLite 3.40 answers 1 for a NULL there
    withdrawn = [Withdrawn(row[0], row[1], row[2]) for row in rows]
    if withdrawn:
        uow.after_commit(lambda: _log_withdrawn(withdrawn, reason, log_each))
    pushed = [row[0] for row in rows if row[4] is not None]
    await cancel_offer_pushes(sql, pushed)
    for assignment_id, ended_order_id, ended_master_id, user_id, pushed_at in rows:
        event = ctx.outbox.emit(uow, user_id, EventType.ASSIGNMENT_EXPIRED,
                                {"assignmentId": assignment_id, "reason": reason})
        timeline.record(uow, ended_order_id, StepKind.EXPIRED, at=now,
                        assignment_id=assignment_id, master_id=ended_master_id,
                        detail={"reason": reason})
        if pushed_at is not None:  # the phone shows its notice: this push takes it away
            enqueue_after_numbering(
                uow, event, kind=JobKind.OFFER_END, ttl_s=OFFER_END_TTL_S, urgency="high",
                topic=f"assignment-{assignment_id}", assignment_id=assignment_id,
                order_id=ended_order_id, now=now,
                ends_at=now + timedelta(seconds=OFFER_END_TTL_S))
    return withdrawn


def _log_withdrawn(withdrawn: Sequence[Withdrawn], reason: EndReason, log_each: bool) -> None:
    labelled(OFFERS_RESOLVED, _STATUS_OF[reason]).inc(len(withdrawn))
    if reason == EndReason.UNDELIVERED:
        OFFERS_UNDELIVERED.inc(len(withdrawn))
    for offer in withdrawn if log_each else ():
        log.info("offer %s of order %s to master %s ended: %s", offer.assignment_id,
                 offer.order_id, offer.master_id, reason)


async def mark_unreachable(ctx: Context, uow: UnitOfWork, *, master_ids: Sequence[int],
                           now: datetime) -> None:
    """These masters let an offer end undelivered: offer them nothing until they are seen
    (`seen`); until then a token check shows them so (`KnownUsers`, kept a few seconds)."""
    if not master_ids:
        return
    sql = uow.sql
    rows = await sql.rows(f"UPDATE masters SET unreachable_at = :now WHERE id IN"
                          f" ({int_list(master_ids)}) RETURNING user_id", {"now": sql.time(now)})
    uow.after_commit(lambda: ctx.known_users.forget(*(row[0] for row in rows)))
    uow.after_commit(lambda: log.info("masters %s unreachable until seen", sorted(master_ids)))


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
    idle_since = sql.read_time(master.idle_raw) if master.idle_raw is not None else None
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
