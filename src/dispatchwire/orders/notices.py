"""What an order's people are told when its status changes."""

from dispatchwire.context import Context
from dispatchwire.events.types import EventType
from dispatchwire.store import UnitOfWork

__all__ = ["notify_status"]


def notify_status(ctx: Context, uow: UnitOfWork, *, order_id: int, status: str, client_id: int,
                  master_user_id: int | None) -> None:
    """`order_status_update` to the order's client and its master, if it has one."""
    payload = {"orderId": order_id, "status": status}
    ctx.outbox.emit(uow, client_id, EventType.ORDER_STATUS_UPDATE, payload)
    if master_user_id is not None:
        ctx.outbox.emit(uow, master_user_id, EventType.ORDER_STATUS_UPDATE, payload)
