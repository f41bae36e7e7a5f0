"""The expiry loop: offers run out at deadlines kept in the database, and the other timers.

The loop sleeps until the nearest deadline (woken early when this process makes an offer), then
claims every offer past its deadline with one conditional update. Several processes may run it
on one PostgreSQL: each offer is claimed by exactly one of them, and a restart loses nothing
because the deadlines were never held only in memory. Offers made by other processes wake it
too when their events arrive through the broker, and the sleep is capped, so that such offers
are found even when the broker is down. The same loop ends decline cooldowns (the master is
offered what waits for him at once) and escalates orders that waited too long
(`escalation.py`): timers in the database, claimed the same way.
"""

import asyncio
import logging
from datetime import datetime, timedelta

from dispatchwire.clock import utcnow
from dispatchwire.context import Context
from dispatchwire.dispatch.escalation import (
    OLDEST_WAITING,
    any_due,
    escalate_refused,
    escalate_waiting_orders,
)
from dispatchwire.dispatch.models import EndReason, OfferStatus
from dispatchwire.dispatch.offer_events import first_timer_of
from dispatchwire.dispatch.offers import mark_unreachable, withdraw_offers
from dispatchwire.dispatch.rounds import dispatch_for_master, redispatch
from dispatchwire.events.types import StoredEvent
from dispatchwire.store import retry_transient
from dispatchwire.store.outage import as_unavailable
from dispatchwire.store.sql import int_list

__all__ = ["end_cooldowns", "end_undelivered_offers", "expire_due_offers", "run_expiry_loop",
           "seconds_until_next_deadline", "wake_on_offers"]

log = logging.getLogger(__name__)

BATCH = 200
# Wake a hair after the deadline, so that `expires_at <= now` holds when the claim runs.
WAKE_MARGIN_S = 0.005


@retry_transient
async def expire_due_offers(ctx: Context, *, now: datetime | None = None) -> int:
    """Expire every pending offer whose deadline has passed; move each order on. Returns count."""
    return await _end_due(ctx, reason=EndReason.TIMEOUT, now=now)


@retry_transient
async def end_undelivered_offers(ctx: Context, *, now: datetime | None = None) -> int:
    """End every offer still undelivered at its `undelivered_by`: its order moves on at once,
    and its master gets nothing more until he is next seen. Returns count."""
    return await _end_due(ctx, reason=EndReason.UNDELIVERED, now=now)


async def _end_due(ctx: Context, *, reason: EndReason, now: datetime | None) -> int:
    total = 0
    while True:
        async with ctx.db.transaction() as uow:
            moment = now or utcnow()
            timeout = reason == EndReason.TIMEOUT
            ended = await withdraw_offers(ctx, uow, reason=reason, now=moment, limit=BATCH,
                                          due_by=moment if timeout else None,
                                          undelivered_by=None if timeout else moment)
            if reason == EndReason.UNDELIVERED:
                await mark_unreachable(ctx, uow, master_ids=[offer.master_id for offer in ended],
                                       now=moment)
            await escalate_refused(ctx, uow, order_ids=[offer.order_id for offer in ended],
                                   now=moment)
            await redispatch(ctx, uow, ended)
        total += len(ended)
        if len(ended) < BATCH:
            return total
        await asyncio.sleep(0)  # let requests in between batches of expiries


@retry_transient
async def end_cooldowns(ctx: Context, *, now: datetime | None = None) -> int:
    """End every decline cooldown that has run out: what waits for those masters is offered to
    them at once. Returns count."""
    total = 0
    if not await any_due(ctx, "masters", "cooldown_until", now):
        return 0  # no write transaction for nothing
    while True:
        async with ctx.db.transaction() as uow:
            sql = uow.sql
            moment = now or utcnow()
            ids = [row[0] for row in await sql.rows(
                "SELECT id FROM masters WHERE cooldown_until <= :now"
                f" ORDER BY id LIMIT {BATCH}", {"now": sql.time(moment)})]
            if not ids:
                return total
            # Each master's row first (the lock order of dispatch), then one claim for all.
            ended = [row[0] for row in await sql.rows(
                f"UPDATE masters SET cooldown_until = NULL WHERE id IN ({int_list(ids)})"
                " AND cooldown_until <= :now RETURNING id", {"now": sql.time(moment)})]
            for master_id in sorted(ended):
                await dispatch_for_master(ctx, uow, master_id=master_id)
        total += len(ended)
        if len(ids) < BATCH:
            return total


async def seconds_until_next_deadline(ctx: Context) -> float:
    """Until the nearest timer (an offer's deadline or undelivered timer, a cooldown's end, an
    order's `waiting` escalation), capped."""
    wait = ctx.settings.escalate_wait_s
    async with ctx.db.read() as sql:
        *timers, oldest = await sql.first(_NEAREST if wait else _NEAREST_NO_WAITING) \
            or (None, None, None, None)
        nearest = [sql.read_time(value) for value in timers if value]
        if oldest:
            nearest.append(sql.read_time(oldest) + timedelta(seconds=wait))
    cap = ctx.settings.expiry_max_sleep_s
    if not nearest:
        return cap
    return min(cap, max(0.0, (min(nearest) - utcnow()).total_seconds() + WAKE_MARGIN_S))


_NEAREST_NO_WAITING = (
    "SELECT (SELECT MIN(expires_at) FROM assignments"
    f" WHERE status = '{OfferStatus.PENDING}'),"
    " (SELECT MIN(undelivered_by) FROM assignments WHERE undelivered_by IS NOT NULL),"
    " (SELECT MIN(cooldown_until) FROM masters WHERE cooldown_until IS NOT NULL), NULL")
_NEAREST = _NEAREST_NO_WAITING.removesuffix("NULL") + f"({OLDEST_WAITING})"


def wake_on_offers(ctx: Context) -> None:
    """Note the deadline of every offer any process makes."""
    timeout = ctx.settings.undelivered_timeout_s
    undelivered_after = timedelta(seconds=timeout) if timeout else None

    def listener(stored: StoredEvent) -> None:
        if (moment := first_timer_of(stored, undelivered_after)) is not None:
            ctx.alarm.note(moment)

    ctx.broker.add_listener(listener)


async def run_expiry_loop(ctx: Context) -> None:
    """Run until cancelled; errors are logged and retried, never fatal."""
    while True:
        ctx.alarm.awake()  # before reading deadlines: an offer made meanwhile wakes it again
        try:
            if count := await expire_due_offers(ctx):
                log.info("expired %d offers", count)
            if count := await end_undelivered_offers(ctx):
                log.info("%d offers ended undelivered", count)
            if count := await end_cooldowns(ctx):
                log.info("%d decline cooldowns ended", count)
            if count := await escalate_waiting_orders(ctx):
                log.info("%d orders waited too long", count)
            delay = await seconds_until_next_deadline(ctx)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if as_unavailable(exc) is None:
                log.exception("expiry loop failed; retrying in 1 s")
            else:  # an outage, not a bug: one line, no trace
                log.warning("expiry loop: the database is unavailable (%s); retrying in 1 s",
                            type(exc).__name__)
            delay = 1.0
        await ctx.alarm.sleep(delay)
