"""Masters: becoming one, the profile, the shift, and subscribing to offers."""

import asyncio
import logging
from datetime import datetime

from sqlalchemy import func, select

from dispatchwire.actors import Actor, Role, require_master
from dispatchwire.auth.models import User
from dispatchwire.auth.schemas import RegisterIn, TokenOut
from dispatchwire.auth.service import DEACTIVATED, create_user, token_out
from dispatchwire.clock import utcnow
from dispatchwire.context import Context
from dispatchwire.dispatch.models import EndReason
from dispatchwire.dispatch.offers import withdraw_offers
from dispatchwire.dispatch.rounds import dispatch_for_master, redispatch, seen
from dispatchwire.errors import Forbidden, InvalidInput
from dispatchwire.masters.models import Master
from dispatchwire.masters.schemas import ApplianceTypeOut, MasterOut, MasterPatch, ShiftOut
from dispatchwire.metrics import MASTERS_ON_SHIFT
from dispatchwire.store import UnitOfWork, retry_transient

__all__ = ["appliance_types", "come_back", "count_on_shift_forever", "create_master",
           "end_shift", "get_profile", "locked_master", "master_out", "may_subscribe",
           "record_last_seen_forever", "register", "start_shift", "update_profile"]

log = logging.getLogger(__name__)

SHIFT_COUNT_EVERY_S = 15.0
LAST_SEEN_EVERY_S = 1.0


async def register(ctx: Context, *, data: RegisterIn) -> TokenOut:
    """Create a master account with its profile; approved at once only when
    DISPATCHWIRE_MASTERS_NEED_APPROVAL is off."""
    approved = not ctx.settings.masters_need_approval
    user, master_id = await create_master(ctx, email=data.email, password=data.password,
                                          name=data.name, phone=data.phone,
                                          specializations=data.specializations,
                                          approved=approved)
    log.info("user %s registered as master %s%s", user.id, master_id,
             "" if approved else ", waiting for an admin's approval")
    return token_out(ctx, user, master_id=master_id)


async def create_master(ctx: Context, *, email: str, password: str, name: str,
                        phone: str | None, specializations: list[str], approved: bool
                        ) -> tuple[User, int]:
    """A user with the `master` role and a master profile, in one transaction."""

    async def profile(uow: UnitOfWork, user: User) -> int:
        master = Master(user_id=user.id, specializations=sorted(set(specializations)),
                        approved=approved, active=True)
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
                     lat=master.lat, lon=master.lon, idle_since=master.idle_since,
                     approved=master.approved, active=master.active)


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
        master = await locked_master(uow, master_id)
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
        master = await locked_master(uow, master_id)
        if not master.active:
            raise Forbidden(DEACTIVATED)
        if not master.approved:
            raise Forbidden(f"master {master_id} cannot start a shift yet: he waits for an"
                            " admin's approval")
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
        master = await locked_master(uow, master_id)
        master.on_shift = False
        await uow.flush()
        withdrawn = await withdraw_offers(ctx, uow, master_id=master_id,
                                          reason=EndReason.WITHDRAWN)
        await redispatch(ctx, uow, withdrawn)
    log.info("master %s ended a shift; %d offers withdrawn", master_id, len(withdrawn))
    return ShiftOut(on_shift=False)


async def come_back(ctx: Context, *, actor: Actor) -> None:
    """A master showed up (a socket, a poll, any call): noted as seen, and if he was marked
    unreachable, offered what waits for him again."""
    if actor.master_id is None:
        return
    ctx.last_seen.note(actor.master_id)
    if actor.unreachable:
        async with ctx.db.transaction() as uow:
            await seen(ctx, uow, master_id=actor.master_id)


async def record_last_seen_forever(ctx: Context) -> None:
    """Write when masters were last seen (`LastSeen`), once a second, until cancelled."""
    while True:
        await asyncio.sleep(LAST_SEEN_EVERY_S)
        if not (due := ctx.last_seen.take()):
            continue
        try:
            await _write_last_seen(ctx, due)
        except Exception as exc:
            ctx.last_seen.give_back(due)
            log.warning("could not record when %d masters were last seen (%s); trying again",
                        len(due), type(exc).__name__)


@retry_transient
async def _write_last_seen(ctx: Context, due: dict[int, datetime]) -> None:
    async with ctx.db.transaction() as uow:
        sql = uow.sql
        await sql.run_many("UPDATE masters SET last_seen_at = :at WHERE id = :id", [
            {"id": master_id, "at": sql.time(at)} for master_id, at in sorted(due.items())])


async def appliance_types(ctx: Context, *, actor: Actor) -> list[ApplianceTypeOut]:
    """The types approved, active masters declare, with how many there are and on shift."""
    del actor  # any signed-in user
    async with ctx.db.read() as sql:
        rows = await sql.rows(
            "SELECT j.value, COUNT(*), SUM(CASE WHEN m.on_shift THEN 1 ELSE 0 END)"
            f" FROM masters m, {sql.json_elements('m.specializations', 'j')}"
            " WHERE m.approved = TRUE AND m.active = TRUE GROUP BY j.value ORDER BY j.value")
    return [ApplianceTypeOut(type=kind, masters=count, on_shift=on_shift or 0)
            for kind, count, on_shift in rows]


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


async def locked_master(uow: UnitOfWork, master_id: int) -> Master:
    """The master's row, locked until the transaction ends (its user's row is left alone)."""
    return (await uow.orm_session().scalars(
        select(Master).where(Master.id == master_id).with_for_update(of=Master)
        .execution_options(populate_existing=True)
    )).one()
