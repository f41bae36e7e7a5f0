"""Retention: stored events older than `DISPATCHWIRE_EVENT_RETENTION_S` are deleted.

Only the `events` table is touched: orders, offers, chat and timelines are kept whatever
their age. Each process runs `run_retention_loop`, which looks every min(retention, 30 s)
and deletes in small batches, each a short transaction of its own with a pause after it, so
that a backlog (the first run on a year of events) never holds writers up: SQLite has one
writer, and a batch holds it for about a millisecond (docs/reliability.md has the figures).

Events go oldest first by their row id, and a batch stops at the first event still to be
kept. Rows of one user get ids in the order of their event ids (the per-user counter's row
lock serializes them), so what is deleted of each user is always a prefix: the events a user
still has run without a hole from the oldest kept to the newest (`users.last_event_id`).
That is what lets a resume tell from one lookup whether anything after its `lastEventId`
is gone (`events.stream.replayable`). A timestamp taken a moment out of order (clocks of two
nodes, a transaction that waited for the counter) only delays a deletion until the events
before it are old enough too; it never makes a hole.

On PostgreSQL several processes run the loop: a batch takes a transaction-level advisory
lock, and a process that finds it taken leaves the work to the holder until its next look.
Were the lock ever bypassed, two deletes of the same rows would still be correct (the second
finds them gone).
"""

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from dispatchwire.clock import utcnow
from dispatchwire.context import Context
from dispatchwire.metrics import EVENTS_DELETED
from dispatchwire.store import Sql
from dispatchwire.store.outage import as_unavailable

__all__ = ["BATCH", "delete_expired_events", "run_retention_loop"]

log = logging.getLogger(__name__)

BATCH = 200  # events deleted per transaction (bench.retention: ~1 ms on SQLite)
PAUSE_S = 0.002  # at least, between two batches: whatever waits to write goes first
MAX_INTERVAL_S = 30.0  # the longest between two looks, whatever the retention
# pg_try_advisory_xact_lock's key for deleting events (store.migrate's differs).
LOCK_KEY = 0x6477_7265_7465_6E74  # "dwretent"


@dataclass(frozen=True, slots=True)
class _Batch:
    deleted: int
    last: int  # the id of the last row it deleted: the next batch starts after it
    more: bool  # a full batch: there may be more to delete right away


async def delete_expired_events(ctx: Context, *, now: datetime | None = None,
                                batch: int = BATCH, pause_s: float = PAUSE_S) -> int:
    """Delete every stored event older than the retention, in batches; returns how many.

    Returns early (with what it did) when another process holds the deleting lock."""
    cutoff = (now or utcnow()) - timedelta(seconds=ctx.settings.event_retention_s)
    total, after = 0, 0
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        async with ctx.db.transaction() as uow:
            done = await _delete_batch(uow.sql, cutoff=cutoff, after=after, limit=batch)
        if done is None:  # another process is at it
            return total
        total += done.deleted
        EVENTS_DELETED.inc(done.deleted)
        if not done.more:
            return total
        after = done.last
        # The deleted rows' pages leave the WAL off the loop, not in a writer's commit.
        await ctx.db.checkpoint()
        # At least as long as the batch took: a backlog takes at most half of the loop's time.
        await asyncio.sleep(max(pause_s, loop.time() - started))


async def _delete_batch(sql: Sql, *, cutoff: datetime, after: int, limit: int
                        ) -> _Batch | None:
    """Delete the oldest rows up to the first one to keep, at most `limit`, starting after
    row `after` (those before it are gone: on PostgreSQL, not having to step over their dead
    index entries again keeps each batch as quick as the first)."""
    if sql.locks_rows and not await sql.scalar("SELECT pg_try_advisory_xact_lock(:key)",
                                               {"key": LOCK_KEY}):
        return None
    rows = await sql.rows("SELECT id, created_at FROM events WHERE id > :after"
                          f" ORDER BY id LIMIT {int(limit)}", {"after": after})
    last, count = after, 0
    for row_id, created_at in rows:
        if sql.read_time(created_at) >= cutoff:
            break
        last, count = row_id, count + 1
    if count:
        # `created_at` too: on PostgreSQL a row with a smaller id may commit after the SELECT
        # (ids are handed out before commit); it is new, and stays.
        await sql.rows("DELETE FROM events WHERE id > :after AND id <= :last"
                       " AND created_at < :cutoff",
                       {"after": after, "last": last, "cutoff": sql.time(cutoff)})
    return _Batch(count, last, more=count == limit)


def interval_s(retention_s: float) -> float:
    """How often the loop looks for events to delete."""
    return min(retention_s, MAX_INTERVAL_S)


async def run_retention_loop(ctx: Context) -> None:
    """Delete expired events every `interval_s`, until cancelled; errors are logged and the
    next look tries again."""
    every = interval_s(ctx.settings.event_retention_s)
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        try:
            if count := await delete_expired_events(ctx):
                log.info("retention: deleted %d events older than %g s", count,
                         ctx.settings.event_retention_s)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if as_unavailable(exc) is None:
                log.exception("retention failed; trying again in %g s", every)
            else:  # an outage, not a bug: one line, no trace
                log.warning("retention: the database is unavailable (%s); trying again in %g s",
                            type(exc).__name__, every)
        await asyncio.sleep(max(0.0, started + every - loop.time()))
