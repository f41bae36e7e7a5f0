from typing import Annotated

from fastapi import APIRouter, Query, status

from dispatchwire.admin import board, masters, service, stats
from dispatchwire.admin.schemas import (
    AcceptTimesOut,
    AdminMasterIn,
    AdminMasterOut,
    AdminMasterPatch,
    DispatchStats,
    TimelineStepOut,
    WaitingOrderOut,
    WebsocketStats,
)
from dispatchwire.deps import ContextDep, CurrentActor
from dispatchwire.dispatch import service as dispatch
from dispatchwire.dispatch.schemas import AssignmentOut, ManualOfferIn
from dispatchwire.schemas import MAX_ID, IdPath

router = APIRouter(prefix="/api/admin", tags=["admin"])


@router.get("/websocket/stats")
async def websocket_stats(ctx: ContextDep, actor: CurrentActor) -> WebsocketStats:
    return await service.websocket_stats(ctx, actor=actor)


@router.post("/assignments", status_code=status.HTTP_201_CREATED)
async def offer_by_hand(ctx: ContextDep, actor: CurrentActor, data: ManualOfferIn
                        ) -> AssignmentOut:
    """Offer a `new` order to a chosen on-shift master, withdrawing its current offers."""
    return await dispatch.offer_by_hand(ctx, actor=actor, order_id=data.order_id,
                                        master_id=data.master_id)


@router.get("/orders/{order_id}/timeline", response_model_exclude_none=True)
async def order_timeline(ctx: ContextDep, actor: CurrentActor, order_id: IdPath
                         ) -> list[TimelineStepOut]:
    """Everything that happened to the order, oldest first (`placed` first); 404 if unknown."""
    return await service.order_timeline(ctx, actor=actor, order_id=order_id)


@router.get("/dispatch/stats")
async def dispatch_stats(ctx: ContextDep, actor: CurrentActor,
                         since: Annotated[str | None, Query(
                             max_length=64, examples=["2026-01-31T08:00:00Z"],
                             description="ISO 8601, not in the future; default 24 h ago")
                         ] = None) -> DispatchStats:
    """Orders placed and offers made since `since`: time to accept, offers by how they ended,
    each master's figures. 422 for a `since` that is not a time, or in the future."""
    return await stats.dispatch_stats(ctx, actor=actor, since=since)


@router.get("/dispatch/accept-times")
async def accept_times(ctx: ContextDep, actor: CurrentActor,
                       since: Annotated[str | None, Query(
                           max_length=64, description="ISO 8601; default 24 h ago")] = None
                       ) -> AcceptTimesOut:
    """The orders placed since `since` and accepted, by how long they waited: a histogram."""
    return await board.accept_times(ctx, actor=actor, since=since)


@router.get("/dispatch/waiting")
async def waiting_orders(ctx: ContextDep, actor: CurrentActor,
                         limit: Annotated[int, Query(ge=1, le=1000)] = 200
                         ) -> list[WaitingOrderOut]:
    """The orders in `new`, oldest first: who holds their offers and until when, their
    escalations, and the figures that say why one without an offer waits."""
    return await board.waiting_orders(ctx, actor=actor, limit=limit)


@router.get("/masters")
async def list_masters(ctx: ContextDep, actor: CurrentActor,
                       since: Annotated[str | None, Query(
                           max_length=64, description="ISO 8601: the figures of the offers"
                           " made since then (default: all)")] = None,
                       limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
                       offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0
                       ) -> list[AdminMasterOut]:
    """Every master, by id, with his state and his offers' figures."""
    return await masters.list_masters(ctx, actor=actor, since=since, limit=limit,
                                      offset=offset)


@router.post("/masters", status_code=status.HTTP_201_CREATED)
async def make_master(ctx: ContextDep, actor: CurrentActor, data: AdminMasterIn
                      ) -> AdminMasterOut:
    """Make a master account, approved at once; 409 if the email is taken."""
    return await masters.make_master(ctx, actor=actor, data=data)


@router.patch("/masters/{masterId}")
async def change_master(ctx: ContextDep, actor: CurrentActor,
                        masterId: IdPath,  # the contract's name for it
                        data: AdminMasterPatch) -> AdminMasterOut:
    """Approve, deactivate (ends his shift, withdraws his offers, closes his sockets, refuses
    his login) or reactivate a master, or change his specializations."""
    return await masters.change_master(ctx, actor=actor, master_id=masterId, data=data)
