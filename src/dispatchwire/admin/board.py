"""The dispatch board's figures: the orders waiting in `new`, who holds their offers and until
when or, when no one does, what the page needs to say why; and how long accepts took.

A handful of queries for the whole board, whatever the number of orders on it.
"""

from collections import defaultdict
from typing import Any

from dispatchwire.actors import Actor, Role, require_role
from dispatchwire.admin.schemas import (
    AcceptTimesOut,
    AttentionOut,
    BoardOfferOut,
    Bucket,
    WaitingMasters,
    WaitingOrderOut,
)
from dispatchwire.admin.stats import PLACED_SINCE, parse_since
from dispatchwire.clock import utcnow
from dispatchwire.context import Context
from dispatchwire.dispatch.models import OfferStatus
from dispatchwire.orders.models import OrderStatus
from dispatchwire.store import Sql
from dispatchwire.store.sql import int_list

__all__ = ["ACCEPT_BUCKETS_S", "accept_times", "waiting_orders"]

# The upper bounds of the time-to-accept histogram's buckets, in seconds (the last: no bound).
ACCEPT_BUCKETS_S = (5, 15, 30, 60, 120, 300, 600, 1800)


async def waiting_orders(ctx: Context, *, actor: Actor, limit: int = 200
                         ) -> list[WaitingOrderOut]:
    """The orders in `new`, oldest first: their pending offers (master, deadline, whether it
    arrived), their escalations, how many masters refused them, and how many approved, active
    masters could take their type, and of them on shift."""
    require_role(actor, Role.ADMIN)
    async with ctx.db.read() as sql:
        orders = await sql.rows(
            "SELECT id, appliance_type, address, created_at FROM orders"
            f" WHERE status = '{OrderStatus.NEW}' ORDER BY created_at, id LIMIT {int(limit)}")
        ids = int_list(row[0] for row in orders) or "0"
        offers = await _offers(sql, ids)
        attention = await _attention(sql, ids)
        refused: dict[int, int] = dict(await sql.rows(
            f"SELECT order_id, COUNT(DISTINCT master_id) FROM assignments WHERE order_id IN"
            f" ({ids}) AND status IN ('{OfferStatus.REJECTED}', '{OfferStatus.EXPIRED}')"
            " GROUP BY order_id"))
        declaring = await _declaring(sql)
        return [WaitingOrderOut(
            order_id=order_id, appliance_type=kind, address=address,
            created_at=sql.read_time(created_at), offers=offers.get(order_id, []),
            attention=attention.get(order_id, []), refused_by=refused.get(order_id, 0),
            masters=declaring(kind)) for order_id, kind, address, created_at in orders]


async def accept_times(ctx: Context, *, actor: Actor, since: str | None) -> AcceptTimesOut:
    """How long the orders placed since `since` waited for their accept, as a histogram."""
    require_role(actor, Role.ADMIN)
    start = parse_since(since, now=utcnow())
    async with ctx.db.read() as sql:
        waited = sql.seconds_between("a.resolved_at", "o.created_at")
        bucket = " ".join(f"WHEN {waited} <= {bound} THEN {bound}" for bound in ACCEPT_BUCKETS_S)
        rows: dict[int, int] = dict(await sql.rows(
            f"SELECT CASE {bucket} ELSE 0 END AS b, COUNT(*) FROM assignments a JOIN orders o"
            f" ON o.id = a.order_id WHERE {PLACED_SINCE}"
            f" AND a.status = '{OfferStatus.ACCEPTED}' GROUP BY b", {"since": sql.time(start)}))
    return AcceptTimesOut(since=start, buckets=[
        Bucket(up_to_s=bound or None, count=rows.get(bound, 0))
        for bound in (*ACCEPT_BUCKETS_S, 0)])


async def _offers(sql: Sql, ids: str) -> dict[int, list[BoardOfferOut]]:
    found: dict[int, list[BoardOfferOut]] = defaultdict(list)
    for order_id, offer_id, master_id, name, expires_at, delivered_at in await sql.rows(
            "SELECT a.order_id, a.id, a.master_id, u.name, a.expires_at, a.delivered_at"
            " FROM assignments a JOIN masters m ON m.id = a.master_id JOIN users u"
            f" ON u.id = m.user_id WHERE a.order_id IN ({ids})"
            f" AND a.status = '{OfferStatus.PENDING}' ORDER BY a.order_id, a.slot"):
        found[order_id].append(BoardOfferOut(
            assignment_id=offer_id, master_id=master_id, name=name,
            expires_at=sql.read_time(expires_at),
            delivered_at=sql.read_time(delivered_at) if delivered_at is not None else None))
    return found


async def _attention(sql: Sql, ids: str) -> dict[int, list[AttentionOut]]:
    found: dict[int, list[AttentionOut]] = defaultdict(list)
    for order_id, reason, at in await sql.rows(
            "SELECT order_id, reason, at FROM order_escalations"
            f" WHERE order_id IN ({ids}) ORDER BY order_id, at, reason"):
        found[order_id].append(AttentionOut(reason=reason, at=sql.read_time(at)))
    return found


async def _declaring(sql: Sql) -> Any:
    """A function: for an appliance type, the approved, active masters who may take it (they
    declare it, or declare none), and of them on shift."""
    on = "SUM(CASE WHEN m.on_shift THEN 1 ELSE 0 END)"
    usable = "m.approved = TRUE AND m.active = TRUE"
    by_type = {kind: (count, on_shift or 0) for kind, count, on_shift in await sql.rows(
        f"SELECT j.value, COUNT(*), {on} FROM masters m,"
        f" {sql.json_elements('m.specializations', 'j')} WHERE {usable} GROUP BY j.value")}
    any_count, any_on = await sql.first(
        f"SELECT COUNT(*), {on} FROM masters m WHERE {usable}"
        " AND CAST(m.specializations AS VARCHAR) = '[]'") or (0, 0)

    def declaring(kind: str) -> WaitingMasters:
        count, on_shift = by_type.get(kind, (0, 0))
        return WaitingMasters(declaring=count + any_count, on_shift=on_shift + (any_on or 0))

    return declaring
