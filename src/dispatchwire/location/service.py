"""A master's position on a job: kept (the newest only), sent to the order's client, and lent to
dispatch's "nearest" rule.

    master's socket --location--> share_location --(kept, at most one an interval)-->
        master_locations (one row per master) --> broker.send_transient --> the client's
        sockets on every process, as `master_location` (no eventId, never replayed)

Only a master with an order `assigned` or `in_progress` may share; the first position of each
`DISPATCHWIRE_LOCATION_MIN_INTERVAL_S`, measured from the last one kept, is kept and goes out
at once; later ones inside the interval are dropped without a word. Positions are private:
nothing here logs them above DEBUG, and DEBUG lines name ids only.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dispatchwire.actors import Actor, require_master
from dispatchwire.clock import isoformat, utcnow
from dispatchwire.context import Context
from dispatchwire.errors import Forbidden
from dispatchwire.orders.models import ACTIVE_JOB
from dispatchwire.store import Sql, retry_transient

__all__ = ["MASTER_COORDINATES_EVERY", "SharedLocation", "share_location"]

log = logging.getLogger(__name__)

# How often a position may become the master's own coordinates (dispatch's "nearest"): a
# masters row written every 2 s per master on a job would cost more than it tells.
MASTER_COORDINATES_EVERY = timedelta(minutes=1)
_ON_A_JOB = ", ".join(f"'{status}'" for status in ACTIVE_JOB)


@dataclass(frozen=True, slots=True)
class SharedLocation:
    """A kept position, and who is told of it."""

    order_id: int
    client_id: int
    lat: float
    lon: float
    at: datetime

    def frame(self) -> dict[str, Any]:
        """The `master_location` frame the order's client gets."""
        return {"type": "master_location", "orderId": self.order_id, "lat": self.lat,
                "lon": self.lon, "at": isoformat(self.at)}


async def share_location(ctx: Context, *, actor: Actor, lat: float, lon: float
                         ) -> SharedLocation | None:
    """Keep a master's position on his job and send it to the order's client; None when it
    came too soon after the last one kept (dropped). Forbidden off a job."""
    master_id = require_master(actor)
    now = utcnow()
    interval = timedelta(seconds=ctx.settings.location_min_interval_s)
    async with ctx.db.read() as sql:  # most positions that come too soon cost one read
        job = await sql.first(_JOB, {"master_id": master_id})
        if job is None:
            raise Forbidden("only a master on a job (an order assigned or in progress) can "
                            "share his location")
        order_id, client_id, kept_for, kept_at = job
        if kept_for == order_id and kept_at is not None and now - sql.read_time(kept_at) < interval:
            return None
    shared = SharedLocation(order_id, client_id, lat, lon, now)
    if not await _keep(ctx, master_id=master_id, shared=shared, cutoff=now - interval):
        return None
    await ctx.broker.send_transient(client_id, shared.frame())
    log.debug("master %s shared a position for order %s", master_id, shared.order_id)
    return shared


@retry_transient
async def _keep(ctx: Context, *, master_id: int, shared: SharedLocation, cutoff: datetime
                ) -> bool:
    """Store the position in one conditional upsert (of two sockets racing, one wins); refresh
    the master's own coordinates when they are a minute old. Whether it was kept."""
    async with ctx.db.transaction() as uow:
        sql = uow.sql
        now = shared.at
        row = await sql.first(_UPSERT, {"master_id": master_id, "lat": shared.lat,
                                        "lon": shared.lon, "now": sql.time(now),
                                        "cutoff": sql.time(cutoff)})
        if row is None or row[0] != shared.order_id:  # the job ended, or another position won
            return False
        if row[1] is None or now - sql.read_time(row[1]) >= MASTER_COORDINATES_EVERY:
            await _lend_to_dispatch(sql, master_id=master_id, lat=shared.lat, lon=shared.lon,
                                    now=now)
    return True


async def _lend_to_dispatch(sql: Sql, *, master_id: int, lat: float, lon: float,
                            now: datetime) -> None:
    await sql.rows("UPDATE masters SET lat = :lat, lon = :lon WHERE id = :master_id",
                   {"lat": lat, "lon": lon, "master_id": master_id})
    await sql.rows("UPDATE master_locations SET synced_at = :now WHERE master_id = :master_id",
                   {"now": sql.time(now), "master_id": master_id})


# The master's job (a master holds one at a time; the newest, should there be more), and the
# position kept last: for which order, and when.
_JOB = (
    "SELECT o.id, o.client_id, ml.order_id, ml.at FROM orders o"
    " LEFT JOIN master_locations ml ON ml.master_id = o.master_id"
    f" WHERE o.master_id = :master_id AND o.status IN ({_ON_A_JOB}) ORDER BY o.id DESC LIMIT 1"
)
# Keep the position if the master is still on a job and the last one kept is an interval old
# (or was for another job). Returns nothing when it is not kept.
_UPSERT = (
    "INSERT INTO master_locations (master_id, order_id, lat, lon, at)"
    " SELECT :master_id, o.id, :lat, :lon, :now FROM orders o"
    f" WHERE o.master_id = :master_id AND o.status IN ({_ON_A_JOB}) ORDER BY o.id DESC LIMIT 1"
    " ON CONFLICT (master_id) DO UPDATE SET order_id = excluded.order_id, lat = excluded.lat,"
    " lon = excluded.lon, at = excluded.at"
    " WHERE master_locations.at <= :cutoff OR master_locations.order_id <> excluded.order_id"
    " RETURNING order_id, synced_at"
)
