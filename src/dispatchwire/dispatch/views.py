from fastapi import APIRouter

from dispatchwire.deps import ContextDep, CurrentActor
from dispatchwire.dispatch import service
from dispatchwire.dispatch.schemas import AcceptOut, OfferOut, RejectOut
from dispatchwire.schemas import IdPath

router = APIRouter(prefix="/api/assignments", tags=["assignments"])


@router.get("/pending")
async def pending(ctx: ContextDep, actor: CurrentActor) -> list[OfferOut]:
    """The master's open offers, basic information only: the fallback-polling endpoint."""
    return await service.pending_offers(ctx, actor=actor)


@router.post("/{assignment_id}/accept")
async def accept(ctx: ContextDep, actor: CurrentActor, assignment_id: IdPath) -> AcceptOut:
    """Accept an offer; the order and the client's contact come back. 409 if not pending."""
    return await service.accept(ctx, actor=actor, assignment_id=assignment_id)


@router.post("/{assignment_id}/reject")
async def reject(ctx: ContextDep, actor: CurrentActor, assignment_id: IdPath) -> RejectOut:
    """Decline an offer; the order moves on to the next master."""
    return await service.reject(ctx, actor=actor, assignment_id=assignment_id)
