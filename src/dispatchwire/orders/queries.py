"""Reading orders: who may see which (written once), and an order's API shape (written once).

An order is visible to its client, its accepted master and admins; to anyone else it does not
exist (404). Every read of an order for the API goes through `ORDER_ROW` and `OrderRead.of`,
which also decides who sees where the master is (`master.location`): the order's client and
admins, while the job is on, and no one else.

The shape is `schemas.OrderOut`'s, written here as JSON-ready values straight from the row:
placing an order and cancelling it each answer with one, and building it through pydantic
(`model_construct` for the order and its two contacts, then `model_dump_json`) cost ~13 µs an
answer, against ~1 µs this way. tests/orders/test_order_shape.py holds it to `OrderOut`, byte
for byte, for every kind of row.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from starlette.responses import Response

from dispatchwire.actors import Actor, Role
from dispatchwire.clock import isoformat
from dispatchwire.orders.models import ACTIVE_JOB
from dispatchwire.orders.schemas import OrderOut
from dispatchwire.store import Sql

__all__ = ["ORDER_COLUMNS", "ORDER_ROW", "OrderRead", "order_response", "visible_to"]

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


@dataclass(frozen=True, slots=True)
class OrderRead:
    """An order as read for someone: what the services decide on, and its API shape."""

    id: int
    status: str
    client_id: int
    master_id: int | None
    master_user_id: int | None
    shape: dict[str, Any]  # `OrderOut` by alias, as JSON-ready values

    @classmethod
    def of(cls, sql: Sql, row: Any, *, viewer: Actor | None = None) -> "OrderRead":
        """An `ORDER_ROW` row (as stored: not validated again) as `viewer` may see it; without
        a viewer, the master's position is left out."""
        (id_, status, appliance_type, problem, address, lat, lon, client_id, client_name,
         client_phone, master_id, master_user_id, master_name, master_phone, created_at,
         updated_at, master_lat, master_lon, located_at) = row
        master = None
        if master_id is not None:
            location = None
            if located_at is not None and status in ACTIVE_JOB and viewer is not None \
                    and viewer.role in _SEE_WHERE_THE_MASTER_IS:
                location = {"lat": master_lat, "lon": master_lon,
                            "at": sql.wire_time(located_at)}
            master = {"id": master_id, "name": master_name, "phone": master_phone,
                      "location": location}
        shape = {"id": id_, "status": status, "applianceType": appliance_type,
                 "problem": problem, "address": address, "lat": lat, "lon": lon,
                 "clientId": client_id, "masterId": master_id,
                 "client": {"id": client_id, "name": client_name, "phone": client_phone},
                 "master": master, "createdAt": sql.wire_time(created_at),
                 "updatedAt": sql.wire_time(updated_at)}
        return cls(id_, status, client_id, master_id, master_user_id, shape)

    def moved(self, status: str, now: datetime) -> "OrderRead":
        """The order as read before a move, moved: the master's position goes with the job."""
        shape = {**self.shape, "status": status, "updatedAt": isoformat(now)}
        if (master := shape["master"]) is not None and status not in ACTIVE_JOB:
            shape["master"] = {**master, "location": None}
        return OrderRead(self.id, status, self.client_id, self.master_id, self.master_user_id,
                         shape)

    def json(self) -> bytes:
        return orjson.dumps(self.shape)

    def model(self) -> OrderOut:
        """As `OrderOut` (validated), for an answer that holds an order among other things."""
        return OrderOut.model_validate_json(self.json())


def order_response(order: OrderRead | list[OrderRead], status_code: int = 200) -> Response:
    """The answer of a route declared to return `OrderOut` (or a list of them)."""
    body = orjson.dumps([each.shape for each in order]) if isinstance(order, list) \
        else order.json()
    return Response(body, status_code=status_code, media_type="application/json")
