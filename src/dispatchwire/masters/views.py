from fastapi import APIRouter

from dispatchwire.deps import ContextDep, CurrentActor
from dispatchwire.masters import service
from dispatchwire.masters.schemas import ApplianceTypeOut, MasterOut, MasterPatch, ShiftOut

router = APIRouter(prefix="/api/masters/me", tags=["masters"])
types_router = APIRouter(prefix="/api/appliance-types", tags=["masters"])


@router.get("")
async def get_profile(ctx: ContextDep, actor: CurrentActor) -> MasterOut:
    return await service.get_profile(ctx, actor=actor)


@router.patch("")
async def update_profile(ctx: ContextDep, actor: CurrentActor, data: MasterPatch) -> MasterOut:
    return await service.update_profile(ctx, actor=actor, data=data)


@router.post("/shift/start")
async def start_shift(ctx: ContextDep, actor: CurrentActor) -> ShiftOut:
    return await service.start_shift(ctx, actor=actor)


@router.post("/shift/end")
async def end_shift(ctx: ContextDep, actor: CurrentActor) -> ShiftOut:
    """End the shift; pending offers are withdrawn and move on to other masters."""
    return await service.end_shift(ctx, actor=actor)


@types_router.get("")
async def appliance_types(ctx: ContextDep, actor: CurrentActor) -> list[ApplianceTypeOut]:
    """The appliance types approved, active masters declare: how many, how many on shift."""
    return await service.appliance_types(ctx, actor=actor)
