"""A master's own profile and shift."""

import logging

from sqlalchemy import select

from dispatchwire.auth.service import Actor, require_master
from dispatchwire.clock import utcnow
from dispatchwire.context import Context
from dispatchwire.db import UnitOfWork, retry_transient
from dispatchwire.dispatch.offers import dispatch_for_master, redispatch, withdraw_offers
from dispatchwire.errors import InvalidInput
from dispatchwire.masters.models import Master
from dispatchwire.masters.schemas import MasterOut, MasterPatch, ShiftOut

__all__ = ["end_shift", "get_profile", "master_out", "start_shift", "update_profile"]

log = logging.getLogger(__name__)


def master_out(master: Master) -> MasterOut:
    return MasterOut(id=master.id, user_id=master.user_id, name=master.user.name,
                     email=master.user.email, phone=master.user.phone,
                     specializations=master.specializations, on_shift=master.on_shift,
                     lat=master.lat, lon=master.lon, idle_since=master.idle_since)


async def get_profile(ctx: Context, *, actor: Actor) -> MasterOut:
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
        await uow.session.flush()
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
            await uow.session.flush()
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
        await uow.session.flush()
        withdrawn = await withdraw_offers(uow, master_id=master_id, status="cancelled")
        await redispatch(ctx, uow, withdrawn)
    log.info("master %s ended a shift; %d offers withdrawn", master_id, len(withdrawn))
    return ShiftOut(on_shift=False)


async def _locked(uow: UnitOfWork, master_id: int) -> Master:
    """The master's row, locked until the transaction ends (its user's row is left alone)."""
    return (await uow.session.scalars(
        select(Master).where(Master.id == master_id).with_for_update(of=Master)
        .execution_options(populate_existing=True)
    )).one()
