"""Who may be a master: the admins' list of masters, masters made by admins, approval and
deactivation.

Deactivating a master ends his shift and withdraws his pending offers in one transaction;
then every process closes his sockets (a message on the broker that each gateway acts on) and
forgets who he was, so that his next token check, like his next login, is refused with 403.
A master's job already accepted stays his: an admin may cancel it.
"""

import logging
from typing import Any

from dispatchwire.actors import Actor, Role, require_role
from dispatchwire.admin.schemas import AdminMasterIn, AdminMasterOut, AdminMasterPatch
from dispatchwire.admin.stats import parse_since
from dispatchwire.clock import utcnow
from dispatchwire.context import Context
from dispatchwire.dispatch.models import EndReason, OfferStatus
from dispatchwire.dispatch.offers import withdraw_offers
from dispatchwire.dispatch.rounds import dispatch_for_master, redispatch
from dispatchwire.errors import InvalidInput, NotFound
from dispatchwire.events.types import CLOSE_SOCKETS, StoredEvent
from dispatchwire.masters.service import create_master, locked_master
from dispatchwire.store import Sql, retry_transient

__all__ = ["change_master", "list_masters", "make_master"]

log = logging.getLogger(__name__)

# Each master with his user and his offers' figures (an `AdminMasterOut` but `connected`).
_MASTERS = (
    "SELECT m.id, m.user_id, u.name, u.email, u.phone, m.specializations, m.approved,"
    " m.active, m.on_shift, m.last_seen_at, COALESCE(f.offers, 0), COALESCE(f.accepted, 0),"
    " COALESCE(f.rejected, 0), COALESCE(f.expired, 0), COALESCE(f.undelivered, 0)"
    " FROM masters m JOIN users u ON u.id = m.user_id LEFT JOIN (SELECT master_id,"
    " COUNT(*) AS offers,"
    f" SUM(CASE WHEN status = '{OfferStatus.ACCEPTED}' THEN 1 ELSE 0 END) AS accepted,"
    f" SUM(CASE WHEN status = '{OfferStatus.REJECTED}' THEN 1 ELSE 0 END) AS rejected,"
    f" SUM(CASE WHEN status = '{OfferStatus.EXPIRED}'"
    f" AND COALESCE(end_reason, '{EndReason.TIMEOUT}') = '{EndReason.TIMEOUT}'"
    " THEN 1 ELSE 0 END) AS expired,"
    f" SUM(CASE WHEN end_reason = '{EndReason.UNDELIVERED}' THEN 1 ELSE 0 END) AS undelivered"
    " FROM assignments {window} GROUP BY master_id) f ON f.master_id = m.id"
)


async def list_masters(ctx: Context, *, actor: Actor, since: str | None = None,
                       limit: int = 1000, offset: int = 0) -> list[AdminMasterOut]:
    """Every master, by id, with his state and the figures of the offers made to him (since
    `since`, or ever)."""
    require_role(actor, Role.ADMIN)
    start = parse_since(since, now=utcnow()) if since is not None else None
    async with ctx.db.read() as sql:
        window = "WHERE created_at >= :since" if start is not None else ""
        rows = await sql.rows(f"{_MASTERS.format(window=window)} ORDER BY m.id"
                              f" LIMIT {int(limit)} OFFSET {int(offset)}",
                              {"since": sql.time(start)} if start is not None else {})
        return [_master_out(ctx, sql, row) for row in rows]


async def make_master(ctx: Context, *, actor: Actor, data: AdminMasterIn) -> AdminMasterOut:
    """A master account made by an admin: approved at once; 409 if the email is taken."""
    require_role(actor, Role.ADMIN)
    user, master_id = await create_master(
        ctx, email=data.email, password=data.password, name=data.name, phone=data.phone,
        specializations=data.specializations, approved=True)
    log.info("admin %s made user %s master %s", actor.user_id, user.id, master_id)
    return await _one(ctx, master_id)


@retry_transient
async def change_master(ctx: Context, *, actor: Actor, master_id: int,
                        data: AdminMasterPatch) -> AdminMasterOut:
    """Approve or withdraw approval, deactivate or reactivate, change specializations."""
    require_role(actor, Role.ADMIN)
    changes: dict[str, Any] = data.model_dump(exclude_none=True)
    if not changes:
        raise InvalidInput("give at least one of approved, active, specializations")
    if "specializations" in changes:
        changes["specializations"] = sorted(set(changes["specializations"]))
    async with ctx.db.transaction() as uow:
        if await uow.sql.scalar("SELECT id FROM masters WHERE id = :id", {"id": master_id}) \
                is None:
            raise NotFound(f"master {master_id} not found")
        master = await locked_master(uow, master_id)
        deactivated = master.active and changes.get("active") is False
        for name, value in changes.items():
            setattr(master, name, value)
        withdrawn = []
        if not (master.approved and master.active):  # he may not work: off shift, no offers
            master.on_shift = False
            await uow.flush()
            withdrawn = await withdraw_offers(ctx, uow, master_id=master_id,
                                              reason=EndReason.WITHDRAWN)
            await redispatch(ctx, uow, withdrawn)
        elif "specializations" in changes:
            await uow.flush()
            await dispatch_for_master(ctx, uow, master_id=master_id)
        user_id = master.user_id
        if deactivated:
            uow.after_commit(lambda: _close_sockets(ctx, user_id))
    log.info("admin %s changed master %s: %s%s", actor.user_id, master_id,
             ", ".join(f"{name}={value}" for name, value in changes.items()),
             f"; {len(withdrawn)} offers withdrawn" if withdrawn else "")
    return await _one(ctx, master_id)


async def _close_sockets(ctx: Context, user_id: int) -> None:
    """Every process forgets who the user was and closes his sockets (4401)."""
    ctx.known_users.forget(user_id)
    await ctx.broker.publish([StoredEvent(user_id, 0, CLOSE_SOCKETS, {}, utcnow())])


async def _one(ctx: Context, master_id: int) -> AdminMasterOut:
    async with ctx.db.read() as sql:
        row = await sql.first(f"{_MASTERS.format(window='')} WHERE m.id = :id",
                              {"id": master_id})
        if row is None:
            raise NotFound(f"master {master_id} not found")
        return _master_out(ctx, sql, row)


def _master_out(ctx: Context, sql: Sql, row: Any) -> AdminMasterOut:
    (master_id, user_id, name, email, phone, specializations, approved, active, on_shift,
     last_seen_at, offers, accepted, rejected, expired, undelivered) = row
    return AdminMasterOut(
        master_id=master_id, user_id=user_id, name=name, email=email, phone=phone,
        specializations=sql.read_json(specializations) or [], approved=bool(approved),
        active=bool(active), on_shift=bool(on_shift), connected=ctx.presence.has_socket(user_id),
        last_seen_at=sql.read_time(last_seen_at) if last_seen_at is not None else None,
        offers=offers, accepted=accepted, rejected=rejected, expired=expired,
        undelivered=undelivered)
