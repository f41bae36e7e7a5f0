from fastapi import APIRouter, status

from dispatchwire.admin import service
from dispatchwire.admin.schemas import WebsocketStats
from dispatchwire.deps import ContextDep, CurrentActor
from dispatchwire.dispatch import service as dispatch
from dispatchwire.dispatch.schemas import AssignmentOut, ManualOfferIn

router = APIRouter(prefix="/api/admin", tags=["admin"])


@router.get("/websocket/stats")
async def websocket_stats(ctx: ContextDep, actor: CurrentActor) -> WebsocketStats:
    return await service.websocket_stats(ctx, actor=actor)


@router.post("/assignments", status_code=status.HTTP_201_CREATED)
async def offer_by_hand(ctx: ContextDep, actor: CurrentActor, data: ManualOfferIn
                        ) -> AssignmentOut:
    """Offer a `new` order to a chosen on-shift master, withdrawing its current offer."""
    return await dispatch.offer_by_hand(ctx, actor=actor, order_id=data.order_id,
                                        master_id=data.master_id)
