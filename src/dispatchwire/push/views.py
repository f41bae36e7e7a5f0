
from fastapi import APIRouter, Response, status

from dispatchwire.deps import ContextDep, CurrentActor
from dispatchwire.push import service
from dispatchwire.push.schemas import (
    SubscriptionIn,
    SubscriptionListItem,
    SubscriptionOut,
    VapidPublicKeyOut,
)
from dispatchwire.schemas import IdPath

router = APIRouter(prefix="/api/push", tags=["push"])


@router.get("/vapid-public-key", responses={404: {"description": "Web Push is off"}})
async def vapid_public_key(ctx: ContextDep, actor: CurrentActor) -> VapidPublicKeyOut:
    """The server's VAPID public key: a browser's `applicationServerKey`."""
    return service.vapid_public_key(ctx)


@router.post("/subscriptions", status_code=status.HTTP_201_CREATED,
             responses={200: {"model": SubscriptionOut, "description": "already yours"}})
async def subscribe(ctx: ContextDep, actor: CurrentActor, data: SubscriptionIn,
                    response: Response) -> SubscriptionOut:
    """Push to this device when the socket is not there: a browser's
    `PushSubscription.toJSON()` plus `"kind": "webpush"`, or `{"kind": "fcm", "token"}`."""
    subscription, new = await service.subscribe(ctx, actor=actor, data=data)
    if not new:
        response.status_code = status.HTTP_200_OK
    return subscription


@router.get("/subscriptions")
async def subscriptions(ctx: ContextDep, actor: CurrentActor) -> list[SubscriptionListItem]:
    return await service.subscriptions(ctx, actor=actor)


@router.delete("/subscriptions/{id}", status_code=status.HTTP_204_NO_CONTENT)
async def unsubscribe(ctx: ContextDep, actor: CurrentActor,
                      id: IdPath) -> None:  # the contract's name for it
    await service.unsubscribe(ctx, actor=actor, subscription_id=id)
