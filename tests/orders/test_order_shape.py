"""The order's API shape, written from the row by hand (`OrderRead`), is `OrderOut`'s to the byte.

The reference is built through pydantic from the same values: `OrderOut` validated by field
name, with datetimes, dumped by alias. Every kind of row: with and without a master, a master's
position seen or not (by role, by the job's status, with no viewer), coordinates or none, and
the order moved along its status machine.
"""

import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from dispatchwire.actors import Actor, Role
from dispatchwire.clock import isoformat
from dispatchwire.orders.models import ACTIVE_JOB, OrderStatus
from dispatchwire.orders.queries import OrderRead
from dispatchwire.orders.schemas import OrderOut
from dispatchwire.store.sql import SqliteSql

SQL = SqliteSql(sqlite3.connect(":memory:"))
CREATED = datetime(2026, 12, 7, 5, 16, 5, 129000, tzinfo=UTC)
UPDATED = datetime(2027, 1, 1, 0, 0, 0, 0, tzinfo=UTC)  # no fraction: isoformat pads it
LOCATED = datetime(2026, 12, 7, 6, 0, 1, 999999, tzinfo=UTC)  # past the ms: cut, not rounded
CLIENT = Actor(user_id=7, role=Role.CLIENT)
ADMIN = Actor(user_id=1, role=Role.ADMIN)
MASTER = Actor(user_id=9, role=Role.MASTER, master_id=3)


def row(*, status: str = OrderStatus.NEW, master: bool = False, located: bool = False,
        coordinates: bool = True) -> tuple[Any, ...]:
    """An `ORDER_ROW` row as SQLite returns it."""
    lat, lon = (55.75, 37.0) if coordinates else (None, None)
    return (12, status, "washing_machine", "Leaks \"a lot\" — под дверью\n", "Tverskaya 1",
            lat, lon, 7, "Zelda Q", None if master else "+1 555 0199",
            3 if master else None, 9 if master else None, "Ivan" if master else None,
            "+7 999" if master else None, SQL.time(CREATED), SQL.time(UPDATED),
            59.9 if located else None, 30.3 if located else None,
            SQL.time(LOCATED) if located else None)


def reference(values: tuple[Any, ...], viewer: Actor | None) -> bytes:
    (id_, status, appliance_type, problem, address, lat, lon, client_id, client_name,
     client_phone, master_id, _, master_name, master_phone, created_at, updated_at,
     master_lat, master_lon, located_at) = values
    sees = (located_at is not None and status in ACTIVE_JOB and viewer is not None
            and viewer.role in (Role.CLIENT, Role.ADMIN))
    location = {"lat": master_lat, "lon": master_lon,
                "at": SQL.read_time(located_at)} if sees else None
    master = {"id": master_id, "name": master_name, "phone": master_phone,
              "location": location} if master_id is not None else None
    return OrderOut(
        id=id_, status=status, appliance_type=appliance_type, problem=problem, address=address,
        lat=lat, lon=lon, client_id=client_id, master_id=master_id,
        client={"id": client_id, "name": client_name, "phone": client_phone}, master=master,
        created_at=SQL.read_time(created_at), updated_at=SQL.read_time(updated_at),
    ).model_dump_json(by_alias=True).encode()


ROWS = {
    "waiting": row(),
    "no coordinates": row(coordinates=False),
    "assigned": row(status=OrderStatus.ASSIGNED, master=True),
    "on the way": row(status=OrderStatus.ASSIGNED, master=True, located=True),
    "in progress": row(status=OrderStatus.IN_PROGRESS, master=True, located=True),
    "completed, last position kept": row(status=OrderStatus.COMPLETED, master=True,
                                         located=True),
}
VIEWERS = {"client": CLIENT, "admin": ADMIN, "master": MASTER, "nobody": None}


@pytest.mark.parametrize("viewer", VIEWERS.values(), ids=VIEWERS.keys())
@pytest.mark.parametrize("values", ROWS.values(), ids=ROWS.keys())
def test_the_shape_is_order_outs(values: tuple[Any, ...], viewer: Actor | None) -> None:
    order = OrderRead.of(SQL, values, viewer=viewer)
    assert order.json() == reference(values, viewer)
    assert order.model().model_dump_json(by_alias=True).encode() == order.json()
    assert (order.id, order.status, order.client_id, order.master_id, order.master_user_id) \
        == (values[0], values[1], values[7], values[10], values[11])


def test_a_position_is_shown_only_to_the_client_and_admins_during_the_job() -> None:
    on_the_way = ROWS["on the way"]
    seen = {name: orjson.loads(OrderRead.of(SQL, on_the_way, viewer=viewer).json())
            ["master"]["location"] for name, viewer in VIEWERS.items()}
    assert seen["client"] == seen["admin"] == {"lat": 59.9, "lon": 30.3,
                                               "at": "2026-12-07T06:00:01.999Z"}
    assert seen["master"] is None and seen["nobody"] is None


@pytest.mark.parametrize(("before", "status"), [
    ("waiting", OrderStatus.CANCELLED), ("on the way", OrderStatus.IN_PROGRESS),
    ("on the way", OrderStatus.CANCELLED), ("in progress", OrderStatus.COMPLETED)])
def test_a_moved_order_is_the_row_moved(before: str, status: str) -> None:
    now = datetime(2026, 12, 7, 7, 0, 0, 123000, tzinfo=UTC)
    moved = OrderRead.of(SQL, ROWS[before], viewer=CLIENT).moved(status, now)
    values = list(ROWS[before])
    values[1], values[15] = status, SQL.time(now)
    assert moved.json() == reference(tuple(values), CLIENT)
    assert moved.status == status
    assert moved.shape["updatedAt"] == "2026-12-07T07:00:00.123Z"


def test_sqlite_times_are_cut_as_isoformat_writes_them() -> None:
    moment = datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC)
    for step in range(2000):  # whole seconds, whole milliseconds, and microseconds between
        text = SQL.time(moment)
        assert SQL.wire_time(text) == isoformat(SQL.read_time(text)), text
        moment += timedelta(microseconds=999 * step + step % 3)
    # Text another writer left (no fraction) is parsed, not cut.
    assert SQL.wire_time("2026-12-07 05:16:05") == "2026-12-07T05:16:05.000Z"
