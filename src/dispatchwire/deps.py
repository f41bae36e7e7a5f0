"""FastAPI dependencies: the process context and the authenticated caller."""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from dispatchwire.auth.service import Actor, authenticate
from dispatchwire.context import Context
from dispatchwire.errors import Unauthorized

__all__ = ["ContextDep", "CurrentActor"]

_bearer = HTTPBearer(auto_error=False, description="a JWT from /api/auth/login")


async def _context(request: Request) -> Context:
    # async: FastAPI would run a plain function in a worker thread, a hand-off per request
    return request.app.state.ctx


ContextDep = Annotated[Context, Depends(_context)]


async def _actor(ctx: ContextDep,
                 credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
                 ) -> Actor:
    if credentials is None:
        raise Unauthorized("missing bearer token: send Authorization: Bearer <token>")
    return await authenticate(ctx, token=credentials.credentials)


CurrentActor = Annotated[Actor, Depends(_actor)]
