"""The chat of an order: its client, its accepted master and admins write while the job is on,
and read at any time.

Each message is stored, then told to the order's client and master as a stored event
(`chat_message`, numbered, resumable like every event; the author's other devices follow). A
retried send, with the `clientMessageId` its author gave the first time, finds the first
message instead of making a second one.
"""

import logging
from typing import Any

from dispatchwire.actors import Actor
from dispatchwire.chat.schemas import MessageIn, MessageOut
from dispatchwire.clock import utcnow
from dispatchwire.context import Context
from dispatchwire.errors import Conflict, NotFound
from dispatchwire.events.types import EventType
from dispatchwire.orders import timeline
from dispatchwire.orders.models import ACTIVE_JOB
from dispatchwire.orders.queries import visible_to
from dispatchwire.store import Sql, UnitOfWork, retry_transient

__all__ = ["list_messages", "post_message"]

log = logging.getLogger(__name__)

_COLUMNS = "id, order_id, author_id, author_role, text, created_at, client_message_id"


@retry_transient
async def post_message(ctx: Context, *, actor: Actor, order_id: int, data: MessageIn
                       ) -> tuple[MessageOut, bool]:
    """Write to the order's chat while its job is on; the message, and whether it is new (a
    retried `clientMessageId` returns the first)."""
    async with ctx.db.transaction() as uow:
        sql = uow.sql
        status, client_id, master_user_id = await _visible_order(sql, actor, order_id, lock=True)
        if (earlier := await _sent_before(sql, actor, order_id, data.client_message_id)):
            return earlier, False
        if status not in ACTIVE_JOB:
            raise Conflict(f"order {order_id} is {status}: messages can be sent while it is "
                           "assigned or in progress")
        row = await sql.first(_INSERT, {
            "order_id": order_id, "author_id": actor.user_id, "author_role": actor.role,
            "text": data.text, "client_message_id": data.client_message_id,
            "now": sql.time(utcnow())})
        if row is None:  # a concurrent retry of the same message won (PostgreSQL)
            earlier = await _sent_before(sql, actor, order_id, data.client_message_id)
            assert earlier is not None
            return earlier, False
        message = _message(sql, row)
        _tell(ctx, uow, message, client_id=client_id, master_user_id=master_user_id)
        timeline.record_message(uow, order_id=order_id, message_id=message.id,
                                author_id=actor.user_id, author_role=actor.role,
                                at=message.created_at)
    log.info("order %s: message %s by user %s (%s)", order_id, message.id, actor.user_id,
             actor.role)
    return message, True


async def list_messages(ctx: Context, *, actor: Actor, order_id: int, after: int = 0,
                        limit: int = 50) -> list[MessageOut]:
    """The order's messages with an id above `after`, oldest first; at any time."""
    async with ctx.db.read() as sql:
        await _visible_order(sql, actor, order_id)
        rows = await sql.rows(
            f"SELECT {_COLUMNS} FROM chat_messages WHERE order_id = :order_id AND id > :after"
            f" ORDER BY id LIMIT {int(limit)}", {"order_id": order_id, "after": after})
        return [_message(sql, row) for row in rows]


async def _visible_order(sql: Sql, actor: Actor, order_id: int, *, lock: bool = False
                         ) -> tuple[str, int, int | None]:
    """The order's status, client and master's user id, if the actor may see it (locked, with
    `lock`, so that its status holds until the message is stored); NotFound otherwise."""
    visible, params = visible_to(actor)
    params["order_id"] = order_id
    row = await sql.first(
        "SELECT o.status, o.client_id, m.user_id FROM orders o"
        " LEFT JOIN masters m ON m.id = o.master_id"
        f" WHERE o.id = :order_id AND {visible}{sql.for_update('o') if lock else ''}", params)
    if row is None:
        raise NotFound(f"order {order_id} not found")
    return row[0], row[1], row[2]


async def _sent_before(sql: Sql, actor: Actor, order_id: int, client_message_id: str | None
                       ) -> MessageOut | None:
    if client_message_id is None:
        return None
    row = await sql.first(
        f"SELECT {_COLUMNS} FROM chat_messages WHERE order_id = :order_id"
        " AND author_id = :author_id AND client_message_id = :client_message_id",
        {"order_id": order_id, "author_id": actor.user_id,
         "client_message_id": client_message_id})
    return _message(sql, row) if row is not None else None


def _tell(ctx: Context, uow: UnitOfWork, message: MessageOut, *, client_id: int,
          master_user_id: int | None) -> None:
    """`chat_message` to the order's client and master, the author included."""
    payload = {"message": message.model_dump(mode="json", by_alias=True)}
    for user_id in (client_id, master_user_id):
        if user_id is not None:
            ctx.outbox.emit(uow, user_id, EventType.CHAT_MESSAGE, payload)


def _message(sql: Sql, row: Any) -> MessageOut:
    id_, order_id, author_id, author_role, text, created_at, client_message_id = row
    return MessageOut(id=id_, order_id=order_id, author_id=author_id, author_role=author_role,
                      text=text, created_at=sql.read_time(created_at),
                      client_message_id=client_message_id)


# Nothing comes back when the same author's same clientMessageId is already stored.
_INSERT = (
    "INSERT INTO chat_messages (order_id, author_id, author_role, text, client_message_id,"
    " created_at) VALUES (:order_id, :author_id, :author_role, :text, :client_message_id, :now)"
    " ON CONFLICT (order_id, author_id, client_message_id) DO NOTHING"
    f" RETURNING {_COLUMNS}"
)
