from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from dispatchwire.chat import service
from dispatchwire.chat.schemas import MAX_PAGE, MessageIn, MessageOut
from dispatchwire.deps import ContextDep, CurrentActor
from dispatchwire.schemas import MAX_ID, IdPath

router = APIRouter(prefix="/api/orders", tags=["chat"])


@router.post("/{order_id}/messages", status_code=status.HTTP_201_CREATED,
             responses={200: {"model": MessageOut,
                              "description": "sent before with this clientMessageId: the first"}})
async def post_message(ctx: ContextDep, actor: CurrentActor, order_id: IdPath, data: MessageIn,
                       response: Response) -> MessageOut:
    """Write to the order's chat (its client, its accepted master, admins) while it is assigned
    or in progress; 409 otherwise. Its client and master get it as `chat_message`."""
    message, new = await service.post_message(ctx, actor=actor, order_id=order_id, data=data)
    if not new:
        response.status_code = status.HTTP_200_OK
    return message


@router.get("/{order_id}/messages")
async def list_messages(ctx: ContextDep, actor: CurrentActor, order_id: IdPath,
                        after: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
                        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50
                        ) -> list[MessageOut]:
    """The order's messages after the message id `after`, oldest first; readable after the
    job too."""
    return await service.list_messages(ctx, actor=actor, order_id=order_id, after=after,
                                       limit=limit)
