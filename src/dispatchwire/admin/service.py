"""What only admins see: live WebSocket statistics across every process, and an order's
timeline."""

import logging

from sqlalchemy import select

from dispatchwire.actors import Actor, Role, require_role
from dispatchwire.admin.schemas import SubscriptionOut, TimelineStepOut, WebsocketStats
from dispatchwire.clock import utcnow
from dispatchwire.cluster import refresh_presence
from dispatchwire.context import Context
from dispatchwire.errors import NotFound
from dispatchwire.masters.models import Master
from dispatchwire.orders.timeline import read_steps

__all__ = ["order_timeline", "websocket_stats"]

log = logging.getLogger(__name__)


async def websocket_stats(ctx: Context, *, actor: Actor) -> WebsocketStats:
    """Connections and assignment subscriptions, with each subscriber's shift and last ping."""
    require_role(actor, Role.ADMIN)
    try:
        await refresh_presence(ctx)
    except Exception as exc:  # the broker is down: the last snapshots known will do
        log.warning("stats from the last known presence of other processes (%s)",
                    type(exc).__name__)
    subscriptions = ctx.presence.subscriptions()
    async with ctx.db.session() as session:
        on_shift = set(await session.scalars(
            select(Master.id).where(Master.id.in_([s.master_id for s in subscriptions]),
                                    Master.on_shift)
        ))
    now = utcnow()
    rows = [SubscriptionOut(user_id=s.user_id, master_id=s.master_id, subscribed=s.subscribed,
                            on_shift=s.master_id in on_shift, last_ping=s.last_ping,
                            is_active=s.is_active(now)) for s in subscriptions]
    return WebsocketStats(
        total_connected=ctx.presence.total_connections(),
        total_subscribed=sum(r.subscribed for r in rows),
        active_subscriptions=sum(r.is_active for r in rows),
        on_shift_subscriptions=sum(r.subscribed and r.on_shift for r in rows),
        subscriptions=rows,
    )


async def order_timeline(ctx: Context, *, actor: Actor, order_id: int) -> list[TimelineStepOut]:
    """Everything that happened to an order, oldest first; 404 for an unknown order."""
    require_role(actor, Role.ADMIN)
    async with ctx.db.read() as sql:
        steps = await read_steps(sql, order_id)
    if steps is None:
        raise NotFound(f"order {order_id} not found")
    return [TimelineStepOut.model_construct(
        at=step["at"], kind=step["kind"], assignment_id=step.get("assignmentId"),
        master_id=step.get("masterId"), detail=step["detail"]) for step in steps]
