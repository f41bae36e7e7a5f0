"""The expiry loop: offers run out at deadlines kept in the database.

The loop sleeps until the nearest deadline (woken early when this process makes an offer), then
claims every offer past its deadline with one conditional update. Several processes may run it
on one PostgreSQL: each offer is claimed by exactly one of them, and a restart loses nothing
because the deadlines were never held only in memory. Offers made by other processes wake it
too when their events arrive through the broker, and the sleep is capped, so that such offers
are found even when the broker is down.
"""

import asyncio
import logging
from datetime import datetime

from sqlalchemy import func, select

from dispatchwire.clock import parse_time, utcnow
from dispatchwire.context import Context
from dispatchwire.db import StoredEvent, retry_transient
from dispatchwire.dispatch.models import Assignment
from dispatchwire.dispatch.offers import redispatch, withdraw_offers
from dispatchwire.outage import as_unavailable

__all__ = ["expire_due_offers", "run_expiry_loop", "seconds_until_next_deadline",
           "wake_on_offers"]

log = logging.getLogger(__name__)

BATCH = 200
# Wake a hair after the deadline, so that `expires_at <= now` holds when the claim runs.
WAKE_MARGIN_S = 0.005


@retry_transient
async def expire_due_offers(ctx: Context, *, now: datetime | None = None) -> int:
    """Expire every pending offer whose deadline has passed; move each order on. Returns count."""
    total = 0
    while True:
        async with ctx.db.transaction() as uow:
            moment = now or utcnow()
            expired = await withdraw_offers(uow, due_by=moment, status="expired", now=moment,
                                            limit=BATCH)
            await redispatch(ctx, uow, expired)
        total += len(expired)
        if len(expired) < BATCH:
            return total
        await asyncio.sleep(0)  # let requests in between batches of expiries


async def seconds_until_next_deadline(ctx: Context) -> float:
    async with ctx.db.session() as session:
        nearest = await session.scalar(
            select(func.min(Assignment.expires_at)).where(Assignment.status == "pending")
        )
    cap = ctx.settings.expiry_max_sleep_s
    if nearest is None:
        return cap
    return min(cap, max(0.0, (nearest - utcnow()).total_seconds() + WAKE_MARGIN_S))


def wake_on_offers(ctx: Context) -> None:
    """Note the deadline of every offer any process makes."""
    def listener(stored: StoredEvent) -> None:
        if stored.type == "new_assignment":
            ctx.alarm.note(parse_time(stored.payload["assignment"]["expiresAt"]))

    ctx.broker.add_listener(listener)


async def run_expiry_loop(ctx: Context) -> None:
    """Run until cancelled; errors are logged and retried, never fatal."""
    while True:
        ctx.alarm.awake()  # before reading deadlines: an offer made meanwhile wakes it again
        try:
            if count := await expire_due_offers(ctx):
                log.info("expired %d offers", count)
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
