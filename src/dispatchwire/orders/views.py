from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from dispatchwire.deps import ContextDep, CurrentActor
from dispatchwire.orders import service
from dispatchwire.orders.queries import order_response
from dispatchwire.orders.schemas import OrderIn, OrderOut, OrderStatus, StatusIn
from dispatchwire.schemas import MAX_ID, IdPath

router = APIRouter(prefix="/api/orders", tags=["orders"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=OrderOut)
async def create_order(ctx: ContextDep, actor: CurrentActor, data: OrderIn) -> Response:
    """Place an order (clients and admins); dispatch starts at once."""
    return order_response(await service.create_order(ctx, actor=actor, data=data),
                          status.HTTP_201_CREATED)


@router.get("", response_model=list[OrderOut])
async def list_orders(ctx: ContextDep, actor: CurrentActor,
                      status: OrderStatus | None = None,
                      needs_attention: Annotated[bool, Query(
                          alias="needsAttention",
                          description="admins: only the escalated orders still `new`")] = False,
                      limit: Annotated[int, Query(ge=1, le=500)] = 100,
                      offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0) -> Response:
    """The caller's orders, newest first: own (client), accepted jobs (master), all (admin).
    `needsAttention=true` (admins only, 403 otherwise): the orders escalated still in `new`."""
    return order_response(await service.list_orders(
        ctx, actor=actor, status=status, needs_attention=needs_attention, limit=limit,
        offset=offset))


@router.get("/{order_id}", response_model=OrderOut)
async def get_order(ctx: ContextDep, actor: CurrentActor, order_id: IdPath) -> Response:
    return order_response(await service.get_order(ctx, actor=actor, order_id=order_id))


@router.post("/{order_id}/status", response_model=OrderOut)
async def change_status(ctx: ContextDep, actor: CurrentActor, order_id: IdPath,
                        data: StatusIn) -> Response:
    """Cancel (client, admin), or move a job on (its master, admin); 409 if not allowed now."""
    return order_response(await service.change_status(ctx, actor=actor, order_id=order_id,
                                                      status=data.status))
