"""Who may take which order: the dispatch rules, written once, as SQL.

A master may be offered an order when he is on shift (so approved and active), reachable (no
offer of his ended undelivered since he was last seen), not cooling down after a decline, free
(he holds no pending offer and no job in `assigned` or `in_progress`), declares the order's
appliance type (or declares none, taking any), and has not already declined this order or let
an offer of it expire. An admin's manual offer asks only that the master be on shift and free
(`why_not_free`). An order is waiting (may be offered) while it is `new` with no pending offer:
with fan-out, a new round of offers starts only when every offer of the last one has ended.

The conditions are SQL over `masters m` (and `orders o`), shared by every query that picks a
master for an order or an order for a master; ranking among the eligible is `ranking.py`.
"""

import math
from typing import Any, NamedTuple

from dispatchwire.dispatch.models import OfferStatus
from dispatchwire.orders.models import ACTIVE_JOB, OrderStatus
from dispatchwire.store.sql import Sql, bind_list

__all__ = ["FREE", "MasterFacts", "OrderFacts", "anyone_declares", "eligible_masters",
           "free_master", "waiting_orders_for", "why_not_free"]

WAITING_ORDERS = 20  # waiting orders a free master is matched against, oldest first


class OrderFacts(NamedTuple):
    """What dispatch reads of an order (and an offer tells its master)."""

    id: int
    appliance_type: str
    problem: str
    address: str
    lat: float | None
    lon: float | None


class MasterFacts(NamedTuple):
    """What dispatch reads of a master."""

    id: int
    user_id: int
    lat: float | None = None
    lon: float | None = None
    idle_since: Any = None  # a datetime, when ranking by distance needs the tie-break
    idle_raw: Any = None  # `idle_since` as the database returned it (read only for the offer made)


_PENDING_OFFER = (f"SELECT {{what}} FROM assignments a WHERE a.master_id = {{master}}"
                  f" AND a.status = '{OfferStatus.PENDING}'")
_JOB_STATUSES = ", ".join(f"'{status}'" for status in ACTIVE_JOB)
_ON_A_JOB = (f"SELECT {{what}} FROM orders j WHERE j.master_id = {{master}}"
             f" AND j.status IN ({_JOB_STATUSES})")
FREE = (f"NOT EXISTS ({_PENDING_OFFER.format(what='1', master='m.id')})"
        f" AND NOT EXISTS ({_ON_A_JOB.format(what='1', master='m.id')})")
_NOT_REFUSED = ("NOT EXISTS (SELECT 1 FROM assignments r WHERE r.master_id = {master}"
                " AND r.order_id = {order}"
                f" AND r.status IN ('{OfferStatus.REJECTED}', '{OfferStatus.EXPIRED}'))")
# A master on shift is approved and active: the services keep it so (start, deactivation).
_READY = "m.on_shift = TRUE AND m.unreachable_at IS NULL AND m.cooldown_until IS NULL"
_MATCHING = ("(CAST(m.specializations AS VARCHAR) = '[]'"
             " OR CAST(m.specializations AS VARCHAR) LIKE :pattern ESCAPE '\\')")


def eligible_masters(order: OrderFacts) -> tuple[str, dict[str, Any]]:
    """Masters who may take `order`: nearest (roughly) first, then idle longest.

    A template with `{live}` (a further condition) and `{limit}` left to fill, and its
    parameters. A master on shift has `idle_since` (set when the shift starts and when a job
    ends) but for the length of a job: the index then skips masters on a job instead of
    walking past each (with thousands on jobs, that walk cost milliseconds per order).
    """
    params: dict[str, Any] = {"order_id": order.id,
                              "pattern": f'%"{_escaped(order.appliance_type)}"%'}
    order_by = ""
    if order.lat is not None and order.lon is not None:
        # Equirectangular distance squared: the same order as great-circle distance at a city's
        # scale; `ranking` orders the short list by the exact distance.
        params |= {"lat": order.lat, "lon": order.lon,
                   "scale": math.cos(math.radians(order.lat))}
        order_by = ("CASE WHEN m.lat IS NULL OR m.lon IS NULL THEN 1 ELSE 0 END,"
                    " (m.lat - :lat) * (m.lat - :lat)"
                    " + (m.lon - :lon) * :scale * (m.lon - :lon) * :scale, ")
    query = ("SELECT m.id, m.user_id, m.lat, m.lon, m.idle_since"
             f" FROM masters m WHERE {_READY} AND m.idle_since IS NOT NULL AND {FREE}"
             f" AND {_NOT_REFUSED.format(master='m.id', order=':order_id')}"
             f" AND {_MATCHING} {{live}}"
             f" ORDER BY {order_by}m.idle_since, m.id {{limit}}")
    return query, params


async def free_master(sql: Sql, master_id: int) -> tuple[MasterFacts, list[str]] | None:
    """The master and his specializations, if he is on shift, reachable, not cooling down
    after a decline, and free."""
    row = await sql.first(
        f"SELECT m.id, m.user_id, m.lat, m.lon, m.idle_since, m.specializations FROM masters m"
        f" WHERE m.id = :master_id AND {_READY} AND {FREE}", {"master_id": master_id})
    if row is None:
        return None
    return MasterFacts(row[0], row[1], row[2], row[3], idle_raw=row[4]), \
        sql.read_json(row[5]) or []


async def anyone_declares(sql: Sql, appliance_type: str) -> bool:
    """Whether any approved, active master declares `appliance_type` (or declares none, taking
    any), on shift or not."""
    return await sql.first(
        f"SELECT 1 FROM masters m WHERE m.approved = TRUE AND m.active = TRUE AND {_MATCHING}"
        " LIMIT 1", {"pattern": f'%"{_escaped(appliance_type)}"%'}) is not None


async def waiting_orders_for(sql: Sql, master_id: int, specializations: list[str]) -> list[int]:
    """Orders waiting for a master (in `new`, no pending offer) that this one may take,
    oldest first."""
    params: dict[str, Any] = {"master_id": master_id}
    kinds = ""
    if specializations:
        names, kind_params = bind_list("kind", specializations)
        params |= kind_params
        kinds = f" AND o.appliance_type IN ({names})"
    rows = await sql.rows(
        f"SELECT o.id FROM orders o WHERE o.status = '{OrderStatus.NEW}'"
        " AND NOT EXISTS (SELECT 1 FROM assignments p WHERE p.order_id = o.id"
        f" AND p.status = '{OfferStatus.PENDING}')"
        f" AND {_NOT_REFUSED.format(master=':master_id', order='o.id')}{kinds}"
        f" ORDER BY o.created_at, o.id LIMIT {WAITING_ORDERS}", params)
    return [row[0] for row in rows]


async def why_not_free(sql: Sql, *, master_id: int, order_id: int) -> str | None:
    """Why the master cannot be offered `order_id` by hand (None: he can): off shift, holding
    another order's offer, or on a job. His pending offer of this very order does not count:
    a manual offer replaces it."""
    params = {"master_id": master_id, "order_id": order_id}
    on_shift = await sql.scalar("SELECT on_shift FROM masters WHERE id = :master_id", params)
    if not on_shift:
        return f"master {master_id} is not on shift"
    other = await sql.scalar(_PENDING_OFFER.format(what="a.id", master=":master_id")
                             + " AND a.order_id != :order_id", params)
    if other is not None:
        return f"master {master_id} already holds pending offer {other}"
    job = await sql.scalar(_ON_A_JOB.format(what="j.id", master=":master_id"), params)
    if job is not None:
        return f"master {master_id} is busy with order {job}"
    return None


def _escaped(appliance_type: str) -> str:
    """A LIKE pattern's literal: types are `[a-z0-9_]`, and `_` is LIKE's one-character wildcard."""
    return appliance_type.replace("_", "\\_")
