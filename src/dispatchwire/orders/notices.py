"""What an order's people are told when its status changes."""

from dispatchwire.clock import utcnow
from dispatchwire.context import Context
from dispatchwire.events.types import EventType
from dispatchwire.push.jobs import enqueue_after_numbering, status_push
from dispatchwire.store import UnitOfWork

__all__ = ["notify_status"]


def notify_status(ctx: Context, uow: UnitOfWork, *, order_id: int, status: str, client_id: int,
                  master_user_id: int | None) -> None:
    """`order_status_update` to the order's client and its master, if it has one; pushed at
    once to whichever of them has no socket on any process."""
    payload = {"orderId": order_id, "status": status}
    now = utcnow()
    for user_id in (client_id, master_user_id):
        if user_id is None:
            continue
        event = ctx.outbox.emit(uow, user_id, EventType.ORDER_STATUS_UPDATE, payload)
        if not ctx.presence.has_socket(user_id):
            enqueue_after_numbering(uow, event, **status_push(order_id=order_id, now=now))
