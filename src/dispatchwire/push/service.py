"""A user's push subscriptions: add (or take over) a device, list them, remove one."""

import logging

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatchwire.actors import Actor
from dispatchwire.clock import utcnow
from dispatchwire.context import Context
from dispatchwire.errors import NotFound
from dispatchwire.push.models import PushSubscription
from dispatchwire.push.schemas import (
    FcmSubscriptionIn,
    SubscriptionIn,
    SubscriptionListItem,
    SubscriptionOut,
    VapidPublicKeyOut,
)
from dispatchwire.push.validation import check_subscription
from dispatchwire.store import retry_transient

__all__ = ["MAX_PER_USER", "subscribe", "subscriptions", "unsubscribe", "vapid_public_key"]

log = logging.getLogger(__name__)

MAX_PER_USER = 10  # beyond this the oldest goes


def vapid_public_key(ctx: Context) -> VapidPublicKeyOut:
    """The key browsers subscribe with; NotFound when Web Push is off."""
    key = ctx.pusher.vapid_public_key
    if key is None:
        raise NotFound("Web Push is off on this server: no VAPID key (see docs/push.md)")
    return VapidPublicKeyOut(public_key=key)


@retry_transient
async def subscribe(ctx: Context, *, actor: Actor, data: SubscriptionIn
                    ) -> tuple[SubscriptionOut, bool]:
    """Add the caller's device (a device another user had moves to the caller); whether it
    is new to the caller. A user keeps at most MAX_PER_USER: the oldest goes."""
    await check_subscription(data, pusher=ctx.pusher, timeout_s=ctx.settings.push_timeout_s)
    keys: dict[str, str | None]
    if isinstance(data, FcmSubscriptionIn):
        address, keys = data.token, {"p256dh": None, "auth": None}
    else:
        address, keys = data.endpoint, {"p256dh": data.keys.p256dh, "auth": data.keys.auth}
    async with ctx.db.transaction() as uow:
        session = uow.orm_session()
        found = await session.scalar(select(PushSubscription).where(
            PushSubscription.address == address).with_for_update())
        new = found is None or found.user_id != actor.user_id
        if found is None:
            found = PushSubscription(user_id=actor.user_id, kind=data.kind, address=address,
                                     created_at=utcnow(), **keys)
            session.add(found)
        elif new:  # the device changed hands: it now pushes to its new user only
            found.user_id, found.created_at, found.last_error = actor.user_id, utcnow(), None
        found.p256dh, found.auth = keys["p256dh"], keys["auth"]
        await session.flush()
        await _keep_newest(session, actor.user_id)
    if new:
        log.info("user %s subscribed a %s device for pushes (subscription %s)", actor.user_id,
                 found.kind, found.id)
    return SubscriptionOut.model_construct(id=found.id, kind=found.kind,
                                           created_at=found.created_at), new


async def subscriptions(ctx: Context, *, actor: Actor) -> list[SubscriptionListItem]:
    """The caller's own devices, with how the last pushes to them went."""
    async with ctx.db.session() as session:
        rows = await session.scalars(select(PushSubscription).where(
            PushSubscription.user_id == actor.user_id).order_by(PushSubscription.id))
        return [SubscriptionListItem.model_construct(
            id=s.id, kind=s.kind, created_at=s.created_at, last_success_at=s.last_success_at,
            last_error=s.last_error) for s in rows]


@retry_transient
async def unsubscribe(ctx: Context, *, actor: Actor, subscription_id: int) -> None:
    """Remove one of the caller's devices; anyone else's does not exist (NotFound)."""
    async with ctx.db.transaction() as uow:
        gone = await uow.sql.scalar(
            "DELETE FROM push_subscriptions WHERE id = :id AND user_id = :user_id RETURNING id",
            {"id": subscription_id, "user_id": actor.user_id})
    if gone is None:
        raise NotFound(f"push subscription {subscription_id} not found")
    log.info("user %s removed push subscription %s", actor.user_id, subscription_id)


async def _keep_newest(session: AsyncSession, user_id: int) -> None:
    ids = list(await session.scalars(select(PushSubscription.id).where(
        PushSubscription.user_id == user_id).order_by(PushSubscription.created_at.desc(),
                                                       PushSubscription.id.desc())))
    if len(ids) > MAX_PER_USER:
        await session.execute(delete(PushSubscription).where(
            PushSubscription.id.in_(ids[MAX_PER_USER:])))
