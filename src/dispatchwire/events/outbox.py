"""The events outbox: events emitted in a transaction are numbered and stored with it, then
published once it has committed.

    service --emit--> Outbox --(before commit)--> events table, ids numbered per user
                             --(after commit)---> broker --> every process's gateway hub

A service calls `ctx.outbox.emit(uow, user_id, type, payload)`. The first event of a
transaction hooks the outbox into that unit of work; nothing is stored or published for a
transaction that emits nothing, and nothing is published for one that does not commit.
"""

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from dispatchwire.clock import utcnow
from dispatchwire.events.types import PendingEvent, StoredEvent
from dispatchwire.metrics import EVENTS_STORED, labelled
from dispatchwire.store import Sql, UnitOfWork

__all__ = ["Outbox", "store_events"]

log = logging.getLogger(__name__)

EventStore = Callable[[Sql, list[PendingEvent]], Awaitable[list[StoredEvent]]]
Publisher = Callable[[list[StoredEvent]], Awaitable[None]]


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
        for i, item in enumerate(items):
            item.event_id = first + i
            stored.append(StoredEvent(user_id, first + i, item.type, item.payload, now))
    created_at = sql.time(now)
    await sql.run_many(INSERT_EVENT, (
        {"user_id": e.user_id, "event_id": e.event_id, "type": e.type,
         "payload": sql.json(e.payload), "created_at": created_at} for e in stored))
    return stored


RESERVE_IDS = ("UPDATE users SET last_event_id = last_event_id + :count WHERE id = :user_id"
               " RETURNING last_event_id")
INSERT_EVENT = ("INSERT INTO events (user_id, event_id, type, payload, created_at)"
                " VALUES (:user_id, :event_id, :type, :payload, :created_at)")


class Outbox:
    """Where services put the events their transaction causes.

    `store` and `publish` are attributes so that a test can slow one down or lose what it
    hands on, as a busy database or broker would.
    """

    def __init__(self, publish: Publisher) -> None:
        self.store: EventStore = store_events
        self.publish: Publisher = publish

    def emit(self, uow: UnitOfWork, user_id: int, type_: str, payload: dict[str, Any]
             ) -> PendingEvent:
        """Store an event for `user_id` with `uow`'s transaction; publish it after the commit.

        The event's id is set in the before-commit work: a hook added after this call sees it.
        """
        event = PendingEvent(user_id, type_, payload)
        uow.attached(self, self._hook_into).append(event)
        return event

    def _hook_into(self, uow: UnitOfWork) -> list[PendingEvent]:
        events = _TransactionEvents(self)
        uow.before_commit(events.store)
        uow.after_commit(events.publish)
        return events.pending


class _TransactionEvents:
    """The events of one transaction (it holds no reference to the unit of work)."""

    __slots__ = ("_outbox", "pending", "stored")

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox
        self.pending: list[PendingEvent] = []
        self.stored: list[StoredEvent] = []

    async def store(self, uow: UnitOfWork) -> None:
        self.stored = await self._outbox.store(uow.sql, self.pending)

    async def publish(self) -> None:
        for stored in self.stored:
            labelled(EVENTS_STORED, stored.type).inc()
        await self._outbox.publish(self.stored)
