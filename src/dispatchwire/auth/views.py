from fastapi import APIRouter, status

from dispatchwire.actors import Role
from dispatchwire.auth import service
from dispatchwire.auth.schemas import LoginIn, RegisterIn, TokenOut, UserOut
from dispatchwire.deps import ContextDep, CurrentActor
from dispatchwire.masters import service as masters

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post("/register", status_code=status.HTTP_201_CREATED)
async def register(ctx: ContextDep, data: RegisterIn) -> TokenOut:
    """Create a `client` or `master` account (never `admin`: 403); 409 if the email is taken."""
    if data.role == Role.MASTER:
        return await masters.register(ctx, data=data)
    return await service.register(ctx, data=data)


@router.post("/login")
async def login(ctx: ContextDep, data: LoginIn) -> TokenOut:
    """Exchange email and password for a token; 401 if either is wrong."""
    return await service.login(ctx, email=data.email, password=data.password)


@router.get("/me")
async def me(ctx: ContextDep, actor: CurrentActor) -> UserOut:
    return await service.me(ctx, actor=actor)
