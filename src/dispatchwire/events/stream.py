"""A user's stored events, read back: for a resume, a gap, or where a new socket starts."""

from collections.abc import Sequence

from dispatchwire.events.types import StoredEvent
from dispatchwire.store import Sql

__all__ = ["last_event_id", "list_events", "newest_event_ids", "replayable"]


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


async def newest_event_ids(sql: Sql, *, user_ids: Sequence[int]) -> dict[int, int]:
    """Each user's newest event id (0 before the first), for many users at once."""
    if not user_ids:
        return {}
    ids = ", ".join(str(int(user_id)) for user_id in user_ids)
    rows = await sql.rows(f"SELECT id, last_event_id FROM users WHERE id IN ({ids})")
    return {user_id: last or 0 for user_id, last in rows}


_BEYOND_ANY_ID = 2**62  # a `lastEventId` past this is past every id: judged by the newest


async def replayable(sql: Sql, *, user_id: int, after: int) -> bool:
    """Whether every event of the user after `after` is still stored (retention deletes the
    oldest).

    Retention deletes each user's events oldest first, so what is kept runs without a hole up
    to the newest: everything after `after` is there when the next one is, or when there is
    none after it."""
    row = await sql.first(
        "SELECT last_event_id, EXISTS (SELECT 1 FROM events WHERE user_id = :user_id"
        " AND event_id = :next) FROM users WHERE id = :user_id",
        {"user_id": user_id, "next": min(after, _BEYOND_ANY_ID) + 1})  # a 64-bit parameter
    if row is None:
        return True
    newest, next_kept = row
    return (newest or 0) <= after or bool(next_kept)
