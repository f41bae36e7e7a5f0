"""Accounts: registration, login, and the token checks that tell who is calling."""

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from dispatchwire.actors import Actor, Role
from dispatchwire.auth.models import User
from dispatchwire.auth.schemas import RegisterIn, TokenOut, UserOut
from dispatchwire.context import Context
from dispatchwire.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from dispatchwire.store import UnitOfWork

__all__ = ["authenticate", "create_user", "login", "me", "register", "set_password",
           "token_out"]

log = logging.getLogger(__name__)

# What else a new account needs, in its transaction (a master's profile: masters.service).
Profile = Callable[[UnitOfWork, User], Awaitable[int | None]]


async def register(ctx: Context, *, data: RegisterIn) -> TokenOut:
    """Create a client account; admins are made only by `create-admin`, masters by
    `masters.service.register`."""
    if data.role == Role.ADMIN:
        raise Forbidden("admin accounts cannot be registered; use `dispatchwire create-admin`")
    if data.role != Role.CLIENT:
        raise Forbidden(f"a {data.role} account is registered by its own service")
    user, _ = await create_user(ctx, email=data.email, password=data.password, name=data.name,
                             phone=data.phone, role=Role.CLIENT)
    log.info("user %s registered as %s", user.id, user.role)
    return token_out(ctx, user, master_id=None)


async def create_user(ctx: Context, *, email: str, password: str, name: str, phone: str | None,
                      role: str, profile: Profile | None = None) -> tuple[User, int | None]:
    """Insert a user, and what `profile` adds with it; Conflict if the email is taken.

    Returns the user and what `profile` returned (a master's id)."""
    password_hash = await ctx.passwords.hash(password)
    made = None
    try:
        async with ctx.db.transaction() as uow:
            session = uow.orm_session()
            user = User(email=email.lower(), password_hash=password_hash, name=name,
                        phone=phone, role=role)
            session.add(user)
            await session.flush()
            if profile is not None:
                made = await profile(uow, user)
    except IntegrityError:
        raise Conflict(f"the email {email} is already registered") from None
    return user, made


async def login(ctx: Context, *, email: str, password: str) -> TokenOut:
    """A token for the right password; 401 otherwise, 429 after repeated failures."""
    email = email.lower()
    ctx.login_brake.check(email)
    async with ctx.db.session() as session:
        user = await session.scalar(select(User).where(User.email == email))
    valid = await ctx.passwords.verify(user.password_hash if user else None, password)
    if user is None or not valid:
        ctx.login_brake.failed(email)
        log.info("failed login for user %s", user.id if user else "(no such email)")
        raise Unauthorized("wrong email or password")
    ctx.login_brake.succeeded(email)
    log.info("user %s logged in", user.id)
    actor = await authenticate_user(ctx, user.id, fresh=True)  # deactivated: 403
    return token_out(ctx, user, master_id=actor.master_id)


async def authenticate(ctx: Context, *, token: str, fresh: bool = False) -> Actor:
    """The actor a bearer token stands for; Unauthorized if the token or its user is gone."""
    return await authenticate_user(ctx, ctx.tokens.user_id(token), fresh=fresh)


async def authenticate_user(ctx: Context, user_id: int, *, fresh: bool = False) -> Actor:
    """The actor a user id stands for (kept a few seconds, `KnownUsers`, unless `fresh`);
    Forbidden for a master an admin deactivated (never kept)."""
    known = None if fresh else ctx.known_users.get(user_id)
    if known is None:
        async with ctx.db.read() as sql:
            row = await sql.first(ACTOR, {"user_id": user_id})
        if row is None:
            raise Unauthorized("token is invalid: its user no longer exists")
        if not row[3]:
            raise Forbidden(DEACTIVATED)
        known = row[0], row[1], bool(row[2])
        ctx.known_users.put(user_id, *known)
    return Actor(user_id=user_id, role=known[0], master_id=known[1], unreachable=known[2])


ACTOR = ("SELECT u.role, m.id, m.unreachable_at IS NOT NULL, COALESCE(m.active, TRUE)"
         " FROM users u LEFT JOIN masters m ON m.user_id = u.id WHERE u.id = :user_id")
DEACTIVATED = "this account was deactivated by an admin"


async def me(ctx: Context, *, actor: Actor) -> UserOut:
    """The caller's account."""
    async with ctx.db.session() as session:
        user = await session.get_one(User, actor.user_id)
    return _user_out(user, actor.master_id)


def token_out(ctx: Context, user: User, *, master_id: int | None) -> TokenOut:
    """A fresh token for `user`, with the account it stands for."""
    token = ctx.tokens.issue(user_id=user.id, role=user.role)
    return TokenOut(token=token, user=_user_out(user, master_id))


def _user_out(user: User, master_id: int | None) -> UserOut:
    return UserOut(id=user.id, email=user.email, name=user.name, phone=user.phone,
                   role=user.role, master_id=master_id, created_at=user.created_at)


# The rule registration applies, so that no reset makes a weaker password than a sign-up may.
_PASSWORD = TypeAdapter(Annotated[str, *RegisterIn.model_fields["password"].metadata])


async def set_password(ctx: Context, *, email: str, password: str) -> User:
    """Give the user with `email` a new password; NotFound if there is none."""
    try:
        _PASSWORD.validate_python(password)
    except ValidationError as exc:
        raise InvalidInput(f"password: {exc.errors()[0]['msg']}") from None
    password_hash = await ctx.passwords.hash(password)
    async with ctx.db.transaction() as uow:
        user = await uow.orm_session().scalar(select(User).where(User.email == email.lower()))
        if user is None:
            raise NotFound(f"no user has the email {email}")
        user.password_hash = password_hash
    log.info("user %s was given a new password by an operator", user.id)
    return user
