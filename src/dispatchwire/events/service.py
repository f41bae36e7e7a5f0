"""The per-user event log: numbering at commit, and reading back for replay."""

from collections import defaultdict

from dispatchwire.clock import utcnow
from dispatchwire.db import PendingEvent, StoredEvent
from dispatchwire.sql import Sql

__all__ = ["last_event_id", "list_events", "store_events"]


async def store_events(sql: Sql, pending: list[PendingEvent]) -> list[StoredEvent]:
    """Number `pending` per user and insert them, in the caller's transaction.

    Bumping `users.last_event_id` locks the user's row until the transaction ends, so a second
    transaction for the same user waits and takes the next number only after the first commits:
    ids are handed out in commit order and a rolled-back transaction gives its numbers back.
    A plain auto-increment would let id 8 commit before id 7, and a reader between the two
    commits would skip 7 for ever. Users are locked in id order, so two transactions that touch
    the same users cannot deadlock here.
    """
    by_user: dict[int, list[PendingEvent]] = defaultdict(list)
    for item in pending:
        by_user[item.user_id].append(item)
    now = utcnow()
    stored: list[StoredEvent] = []
    for user_id in sorted(by_user):
        items = by_user[user_id]
        last = await sql.scalar(RESERVE_IDS, {"count": len(items), "user_id": user_id})
        first = last - len(items) + 1
        stored += [StoredEvent(user_id, first + i, item.type, item.payload, now)
                   for i, item in enumerate(items)]
    created_at = sql.time(now)
    await sql.run_many(INSERT_EVENT, (
        {"user_id": e.user_id, "event_id": e.event_id, "type": e.type,
         "payload": sql.json(e.payload), "created_at": created_at} for e in stored))
    return stored


RESERVE_IDS = ("UPDATE users SET last_event_id = last_event_id + :count WHERE id = :user_id"
               " RETURNING last_event_id")
INSERT_EVENT = ("INSERT INTO events (user_id, event_id, type, payload, created_at)"
                " VALUES (:user_id, :event_id, :type, :payload, :created_at)")


async def list_events(sql: Sql, *, user_id: int, after: int = 0, limit: int = 1000
                      ) -> list[StoredEvent]:
    """The user's stored events with an id above `after`, oldest first."""
    rows = await sql.rows(
        "SELECT event_id, type, payload, created_at FROM events"
        f" WHERE user_id = :user_id AND event_id > :after ORDER BY event_id LIMIT {int(limit)}",
        {"user_id": user_id, "after": after})
    return [StoredEvent(user_id, event_id, type_, sql.read_json(payload), sql.read_time(created))
            for event_id, type_, payload, created in rows]


async def last_event_id(sql: Sql, *, user_id: int) -> int:
    """The id of the user's newest stored event (0 before the first)."""
    return await sql.scalar("SELECT last_event_id FROM users WHERE id = :user_id",
                            {"user_id": user_id}) or 0
