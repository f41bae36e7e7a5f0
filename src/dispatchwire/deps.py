"""FastAPI dependencies: the process context and the authenticated caller."""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from dispatchwire.actors import Actor
from dispatchwire.auth.service import authenticate
from dispatchwire.context import Context
from dispatchwire.errors import Unauthorized
from dispatchwire.masters.service import come_back

__all__ = ["ContextDep", "CurrentActor", "actor_dependency", "context_dependency"]

_bearer = HTTPBearer(auto_error=False, description="a JWT from /api/auth/login")


async def context_dependency(request: Request) -> Context:
    # async: FastAPI would run a plain function in a worker thread, a hand-off per request
    return request.app.state.ctx


ContextDep = Annotated[Context, Depends(context_dependency)]


async def actor_dependency(
        ctx: ContextDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Actor:
    if credentials is None:
        raise Unauthorized("missing bearer token: send Authorization: Bearer <token>")
    actor = await authenticate(ctx, token=credentials.credentials)
    await come_back(ctx, actor=actor)  # any call shows an unreachable master is back
    return actor


CurrentActor = Annotated[Actor, Depends(actor_dependency)]
