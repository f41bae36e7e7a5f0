"""Pushes to send, as rows: made in the transaction that decides them, sent by the push worker.

A push job is one frame for one device. Jobs are inserted with `INSERT ... SELECT` over the
user's push subscriptions, so a user without any costs one statement that inserts nothing.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from dispatchwire.events.types import PendingEvent
from dispatchwire.store import Sql, UnitOfWork
from dispatchwire.store.sql import int_list

__all__ = ["JobKind", "Push", "cancel_offer_pushes", "enqueue", "enqueue_after_numbering",
           "status_push"]

STATUS_TTL_S = 3600


class JobKind:
    OFFER = "offer"  # an undelivered offer's new_assignment frame
    OFFER_END = "offer_end"  # a pushed offer's assignment_expired frame: the notice goes away
    STATUS = "status"  # order_status_update for a user with no socket


@dataclass(frozen=True, slots=True)
class Push:
    """What to push to every device of `user_id`."""

    user_id: int
    kind: str
    frame: str
    ttl_s: int
    urgency: str
    topic: str
    ends_at: datetime
    assignment_id: int | None = None
    order_id: int | None = None


_INSERT = (
    "INSERT INTO push_jobs (subscription_id, assignment_id, order_id, kind, frame, ttl_s,"
    " urgency, topic, due_at, ends_at, attempts, created_at)"
    " SELECT s.id, :assignment_id, :order_id, :kind, :frame, :ttl_s, :urgency, :topic, :now,"
    " :ends_at, 0, :now FROM push_subscriptions s WHERE s.user_id = :user_id"
)


async def enqueue(sql: Sql, push: Push, *, now: datetime) -> None:
    """A job per device of the push's user, due now."""
    await sql.rows(_INSERT, {
        "assignment_id": push.assignment_id, "order_id": push.order_id, "kind": push.kind,
        "frame": push.frame, "ttl_s": push.ttl_s, "urgency": push.urgency,
        "topic": push.topic, "now": sql.time(now), "ends_at": sql.time(push.ends_at),
        "user_id": push.user_id})


def enqueue_after_numbering(uow: UnitOfWork, event: PendingEvent, *, kind: str, ttl_s: int,
                            urgency: str, topic: str, ends_at: datetime, now: datetime,
                            assignment_id: int | None = None, order_id: int | None = None
                            ) -> None:
    """Push `event`'s frame (with its id, known once it is numbered just before the commit)."""

    async def push_it(uow: UnitOfWork) -> None:
        frame = orjson.dumps(event.to_message()).decode()
        await enqueue(uow.sql, Push(event.user_id, kind, frame, ttl_s, urgency, topic, ends_at,
                                    assignment_id, order_id), now=now)

    uow.before_commit(push_it)


def status_push(*, order_id: int, now: datetime) -> dict[str, Any]:
    """The arguments of `enqueue_after_numbering` for an `order_status_update`."""
    return {"kind": JobKind.STATUS, "ttl_s": STATUS_TTL_S, "urgency": "normal",
            "topic": f"order-{order_id}", "ends_at": now + timedelta(seconds=STATUS_TTL_S),
            "now": now, "order_id": order_id}


async def cancel_offer_pushes(sql: Sql, assignment_ids: list[int]) -> None:
    """Stop retrying the pushes of offers that ended or were delivered."""
    if assignment_ids:
        await sql.rows(f"UPDATE push_jobs SET due_at = NULL, result = 'ended'"
                       f" WHERE assignment_id IN ({int_list(assignment_ids)})"
                       f" AND kind = '{JobKind.OFFER}' AND due_at IS NOT NULL")
