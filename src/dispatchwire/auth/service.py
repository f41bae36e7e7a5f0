"""Accounts: registration, login, token checks, and the actor every service call is made as."""

import logging
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dispatchwire.auth.models import User
from dispatchwire.auth.schemas import RegisterIn, TokenOut, UserOut
from dispatchwire.context import Context
from dispatchwire.errors import Conflict, Forbidden, Unauthorized
from dispatchwire.masters.models import Master

__all__ = ["Actor", "authenticate", "create_user", "login", "me", "register", "require_master",
           "require_role"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is calling: every service function is told, and checks the role itself."""

    user_id: int
    role: str
    master_id: int | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def require_role(actor: Actor, *roles: str) -> None:
    if actor.role not in roles:
        raise Forbidden(f"this needs the role {' or '.join(roles)}; you are {actor.role}")


def require_master(actor: Actor) -> int:
    """The caller's master id; Forbidden unless the caller is a master."""
    require_role(actor, "master")
    if actor.master_id is None:
        raise Forbidden(f"user {actor.user_id} has no master profile")
    return actor.master_id


async def register(ctx: Context, *, data: RegisterIn) -> TokenOut:
    """Create a client or master account; admins are made only by `create-admin`."""
    if data.role == "admin":
        raise Forbidden("admin accounts cannot be registered; use `dispatchwire create-admin`")
    user, master = await create_user(ctx, email=data.email, password=data.password,
                                     name=data.name, phone=data.phone, role=data.role,
                                     specializations=data.specializations)
    log.info("user %s registered as %s", user.id, user.role)
    return _token_out(ctx, user, master)


async def create_user(ctx: Context, *, email: str, password: str, name: str, phone: str | None,
                      role: str, specializations: list[str] | None = None
                      ) -> tuple[User, Master | None]:
    """Insert a user (and a master profile for masters); Conflict if the email is taken."""
    password_hash = await ctx.passwords.hash(password)
    try:
        async with ctx.db.transaction() as uow:
            user = User(email=email.lower(), password_hash=password_hash, name=name,
                        phone=phone, role=role)
            uow.session.add(user)
            await uow.session.flush()
            master = None
            if role == "master":
                master = Master(user_id=user.id, specializations=sorted(set(specializations or [])))
                uow.session.add(master)
                await uow.session.flush()
    except IntegrityError:
        raise Conflict(f"the email {email} is already registered") from None
    return user, master


async def login(ctx: Context, *, email: str, password: str) -> TokenOut:
    """A token for the right password; 401 otherwise, 429 after repeated failures."""
    email = email.lower()
    ctx.login_brake.check(email)
    async with ctx.db.session() as session:
        user = await session.scalar(select(User).where(User.email == email))
        master = await _master_of(session, user) if user else None
    valid = await ctx.passwords.verify(user.password_hash if user else None, password)
    if user is None or not valid:
        ctx.login_brake.failed(email)
        log.info("failed login for user %s", user.id if user else "(no such email)")
        raise Unauthorized("wrong email or password")
    ctx.login_brake.succeeded(email)
    log.info("user %s logged in", user.id)
    return _token_out(ctx, user, master)


async def authenticate(ctx: Context, *, token: str) -> Actor:
    """The actor a bearer token stands for; Unauthorized if the token or its user is gone."""
    user_id = ctx.tokens.user_id(token)
    known = ctx.known_users.get(user_id)
    if known is None:
        async with ctx.db.read() as sql:
            row = await sql.first(ACTOR, {"user_id": user_id})
        if row is None:
            raise Unauthorized("token is invalid: its user no longer exists")
        known = row[0], row[1]
        ctx.known_users.put(user_id, *known)
    return Actor(user_id=user_id, role=known[0], master_id=known[1])


ACTOR = ("SELECT u.role, m.id FROM users u LEFT JOIN masters m ON m.user_id = u.id"
         " WHERE u.id = :user_id")


async def me(ctx: Context, *, actor: Actor) -> UserOut:
    async with ctx.db.session() as session:
        user = await session.get_one(User, actor.user_id)
    return _user_out(user, actor.master_id)


async def count_users(ctx: Context) -> int:
    async with ctx.db.session() as session:
        return await session.scalar(select(func.count()).select_from(User)) or 0


async def _master_of(session: AsyncSession, user: User) -> Master | None:
    if user.role != "master":
        return None
    return await session.scalar(select(Master).where(Master.user_id == user.id))


def _user_out(user: User, master_id: int | None) -> UserOut:
    return UserOut(id=user.id, email=user.email, name=user.name, phone=user.phone,
                   role=user.role, master_id=master_id, created_at=user.created_at)


def _token_out(ctx: Context, user: User, master: Master | None) -> TokenOut:
    token = ctx.tokens.issue(user_id=user.id, role=user.role)
    return TokenOut(token=token, user=_user_out(user, master.id if master else None))
