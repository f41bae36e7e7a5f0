"""Reading orders: who may see which (written once), and an order's API shape (built once).

An order is visible to its client, its accepted master and admins; to anyone else it does not
exist (404). Every read of an order for the API goes through `ORDER_ROW` and `order_from_row`,
which also decides who sees where the master is (`master.location`): the order's client and
admins, while the job is on, and no one else.
"""

from typing import Any

from dispatchwire.actors import Actor, Role
from dispatchwire.orders.models import ACTIVE_JOB
from dispatchwire.orders.schemas import Contact, MasterContact, OrderOut, Position
from dispatchwire.store import Sql

__all__ = ["ORDER_COLUMNS", "ORDER_ROW", "order_from_row", "visible_to"]

# An order with its client's and its master's contact, and the master's newest position if he
# shared it for this order; `mu.id` is the master's user id.
ORDER_COLUMNS = ("o.id, o.status, o.appliance_type, o.problem, o.address, o.lat, o.lon,"
                 " o.client_id, c.name, c.phone, o.master_id, mu.id, mu.name, mu.phone,"
                 " o.created_at, o.updated_at, ml.lat, ml.lon, ml.at")
ORDER_ROW = (
    f"SELECT {ORDER_COLUMNS}"
    " FROM orders o JOIN users c ON c.id = o.client_id"
    " LEFT JOIN masters m ON m.id = o.master_id LEFT JOIN users mu ON mu.id = m.user_id"
    " LEFT JOIN master_locations ml ON ml.master_id = o.master_id AND ml.order_id = o.id"
)
_SEE_WHERE_THE_MASTER_IS = (Role.CLIENT, Role.ADMIN)  # the order's client: it is visible to him
_VISIBLE = {Role.CLIENT: " AND o.client_id = :user_id",
            Role.MASTER: " AND o.master_id = :master_id", Role.ADMIN: ""}


def visible_to(actor: Actor) -> tuple[str, dict[str, Any]]:
    """A condition on `orders o` (to follow a WHERE) that holds for the orders `actor` may see,
    and its parameters."""
    return "TRUE" + _VISIBLE[Role(actor.role)], {"user_id": actor.user_id,
                                                 "master_id": actor.master_id}


def order_from_row(sql: Sql, row: Any, *, viewer: Actor | None = None
                   ) -> tuple[OrderOut, int | None]:
    """The API shape of an `ORDER_ROW` row (as stored: not validated again), as `viewer` may
    see it, and its master's user id. Without a viewer, the master's position is left out."""
    (id_, status, appliance_type, problem, address, lat, lon, client_id, client_name,
     client_phone, master_id, master_user_id, master_name, master_phone, created_at,
     updated_at, master_lat, master_lon, located_at) = row
    location = None
    if located_at is not None and status in ACTIVE_JOB and viewer is not None \
            and viewer.role in _SEE_WHERE_THE_MASTER_IS:
        location = Position.model_construct(lat=master_lat, lon=master_lon,
                                            at=sql.read_time(located_at))
    order = OrderOut.model_construct(
        id=id_, status=status, appliance_type=appliance_type, problem=problem, address=address,
        lat=lat, lon=lon, client_id=client_id, master_id=master_id,
        client=Contact.model_construct(id=client_id, name=client_name, phone=client_phone),
        master=MasterContact.model_construct(id=master_id, name=master_name, phone=master_phone,
                                             location=location)
        if master_id is not None else None,
        created_at=sql.read_time(created_at), updated_at=sql.read_time(updated_at))
    return order, master_user_id
