"""Masters: becoming one, the profile, the shift, and subscribing to offers."""

import asyncio
import logging

from sqlalchemy import func, select

from dispatchwire.actors import Actor, Role, require_master
from dispatchwire.auth.models import User
from dispatchwire.auth.schemas import RegisterIn, TokenOut
from dispatchwire.auth.service import create_user, token_out
from dispatchwire.clock import utcnow
from dispatchwire.context import Context
from dispatchwire.dispatch.models import EndReason
from dispatchwire.dispatch.offers import dispatch_for_master, redispatch, seen, withdraw_offers
from dispatchwire.errors import Forbidden, InvalidInput
from dispatchwire.masters.models import Master
from dispatchwire.masters.schemas import MasterOut, MasterPatch, ShiftOut
from dispatchwire.metrics import MASTERS_ON_SHIFT
from dispatchwire.store import UnitOfWork, retry_transient

__all__ = ["come_back", "count_on_shift_forever", "create_master", "end_shift", "get_profile",
           "may_subscribe", "register", "start_shift", "update_profile"]

log = logging.getLogger(__name__)

SHIFT_COUNT_EVERY_S = 15.0


async def register(ctx: Context, *, data: RegisterIn) -> TokenOut:
    """Create a master account with its profile."""
    user, master_id = await create_master(ctx, email=data.email, password=data.password,
                                          name=data.name, phone=data.phone,
                                          specializations=data.specializations)
    log.info("user %s registered as master %s", user.id, master_id)
    return token_out(ctx, user, master_id=master_id)


async def create_master(ctx: Context, *, email: str, password: str, name: str,
                        phone: str | None, specializations: list[str]) -> tuple[User, int]:
    """A user with the `master` role and a master profile, in one transaction."""

    async def profile(uow: UnitOfWork, user: User) -> int:
        master = Master(user_id=user.id, specializations=sorted(set(specializations)))
        uow.orm_session().add(master)
        await uow.orm_session().flush()
        return master.id

    user, master_id = await create_user(ctx, email=email, password=password, name=name,
                                        phone=phone, role=Role.MASTER, profile=profile)
    assert master_id is not None  # `profile` ran
    return user, master_id


def master_out(master: Master) -> MasterOut:
    return MasterOut(id=master.id, user_id=master.user_id, name=master.user.name,
                     email=master.user.email, phone=master.user.phone,
                     specializations=master.specializations, on_shift=master.on_shift,
                     lat=master.lat, lon=master.lon, idle_since=master.idle_since)


async def get_profile(ctx: Context, *, actor: Actor) -> MasterOut:
    """The caller's master profile."""
    master_id = require_master(actor)
    async with ctx.db.session() as session:
        return master_out(await session.get_one(Master, master_id))


@retry_transient
async def update_profile(ctx: Context, *, actor: Actor, data: MasterPatch) -> MasterOut:
    """Change specializations or location; a master newly able to take a waiting order gets it."""
    master_id = require_master(actor)
    changes = data.model_dump(exclude_unset=True)
    if ("lat" in changes) != ("lon" in changes):
        raise InvalidInput("give lat and lon together")
    if changes.get("specializations") is None:
        changes.pop("specializations", None)
    else:
        changes["specializations"] = sorted(set(changes["specializations"]))
    async with ctx.db.transaction() as uow:
        master = await _locked(uow, master_id)
        for name, value in changes.items():
            setattr(master, name, value)
        await uow.flush()
        if "specializations" in changes:
            await dispatch_for_master(ctx, uow, master_id=master_id)
    return master_out(master)


@retry_transient
async def start_shift(ctx: Context, *, actor: Actor) -> ShiftOut:
    """Go on shift; the oldest waiting order this master may take is offered at once."""
    master_id = require_master(actor)
    async with ctx.db.transaction() as uow:
        master = await _locked(uow, master_id)
        if not master.on_shift:
            master.on_shift = True
            master.idle_since = utcnow()
            await uow.flush()
            log.info("master %s started a shift", master_id)
        await dispatch_for_master(ctx, uow, master_id=master_id)
    return ShiftOut(on_shift=True)


@retry_transient
async def end_shift(ctx: Context, *, actor: Actor) -> ShiftOut:
    """Go off shift; pending offers are withdrawn and their orders move on."""
    master_id = require_master(actor)
    async with ctx.db.transaction() as uow:
        master = await _locked(uow, master_id)
        master.on_shift = False
        await uow.flush()
        withdrawn = await withdraw_offers(ctx, uow, master_id=master_id,
                                          reason=EndReason.WITHDRAWN)
        await redispatch(ctx, uow, withdrawn)
    log.info("master %s ended a shift; %d offers withdrawn", master_id, len(withdrawn))
    return ShiftOut(on_shift=False)


async def come_back(ctx: Context, *, actor: Actor) -> None:
    """A master marked unreachable showed up: offer him what waits for him again."""
    if actor.unreachable and actor.master_id is not None:
        async with ctx.db.transaction() as uow:
            await seen(ctx, uow, master_id=actor.master_id)


def may_subscribe(actor: Actor) -> int:
    """The master whose offers a socket subscribes to; Forbidden for anyone but a master."""
    if actor.role != Role.MASTER or actor.master_id is None:
        raise Forbidden("only masters can subscribe to assignments")
    return actor.master_id


async def count_on_shift_forever(ctx: Context) -> None:
    """Keep the masters-on-shift gauge up to date, until cancelled."""
    while True:
        try:
            async with ctx.db.session() as session:
                count = await session.scalar(
                    select(func.count()).select_from(Master).where(Master.on_shift))
            MASTERS_ON_SHIFT.set(count or 0)
        except Exception:
            log.exception("counting masters on shift failed; trying again in %s s",
                          SHIFT_COUNT_EVERY_S)
        await asyncio.sleep(SHIFT_COUNT_EVERY_S)


async def _locked(uow: UnitOfWork, master_id: int) -> Master:
    """The master's row, locked until the transaction ends (its user's row is left alone)."""
    return (await uow.orm_session().scalars(
        select(Master).where(Master.id == master_id).with_for_update(of=Master)
        .execution_options(populate_existing=True)
    )).one()
