"""The order status machine: every move it forbids is a 409, and each allowed move has its roles."""

import itertools
from typing import Any

import pytest

from tests.conftest import Api, Person

STATUSES = ("new", "assigned", "in_progress", "completed", "cancelled")
ALLOWED = {("new", "cancelled"), ("assigned", "in_progress"), ("assigned", "cancelled"),
           ("in_progress", "completed")}
_types = itertools.count(1)


async def set_status(api: Api, who: Person, order_id: int, status: str,
                     expect: int = 200) -> Any:
    return await api.call("POST", f"/api/orders/{order_id}/status", who, expect=expect,
                          json={"status": status})


async def order_in(api: Api, client: Person, status: str) -> tuple[dict[str, Any], Person]:
    """A fresh order brought to `status` through the API, and the master meant for it.

    Each order has an appliance type of its own, taken only by its own master, so the orders
    and masters of one test never get in each other's way.
    """
    kind = f"kind_{next(_types)}"
    master = await api.master(specializations=[kind])
    order = await api.order(client, kind)
    if status == "cancelled":
        await set_status(api, client, order["id"], "cancelled")
    elif status != "new":
        [offer] = await api.pending(master)
        assert offer["orderId"] == order["id"]
        await api.call("POST", f"/api/assignments/{offer['id']}/accept", master)
        if status in ("in_progress", "completed"):
            await set_status(api, master, order["id"], "in_progress")
        if status == "completed":
            await set_status(api, master, order["id"], "completed")
    order = await api.call("GET", f"/api/orders/{order['id']}", client)
    assert order["status"] == status
    return order, master


@pytest.mark.parametrize("source", STATUSES)
async def test_every_move_from_a_status_is_allowed_or_a_409(api: Api, source: str) -> None:
    admin = await api.admin()
    client = await api.register("client")
    for target in STATUSES:
        order, _ = await order_in(api, client, source)
        if (source, target) in ALLOWED:
            moved = await set_status(api, admin, order["id"], target)
            assert moved["status"] == target, (source, target)
            assert moved["id"] == order["id"]
        else:
            refused = await set_status(api, admin, order["id"], target, expect=409)
            assert isinstance(refused["detail"], str) and refused["detail"], (source, target)
            assert source in refused["detail"] and target in refused["detail"]
            after = await api.call("GET", f"/api/orders/{order['id']}", admin)
            assert after["status"] == source, (source, target)
            assert after["updatedAt"] == order["updatedAt"], (source, target)
            assert after["masterId"] == order["masterId"], (source, target)


async def test_a_client_cannot_move_a_job_on(api: Api) -> None:
    client = await api.register("client")
    assigned, _ = await order_in(api, client, "assigned")
    refused = await set_status(api, client, assigned["id"], "in_progress", expect=403)
    assert "client" in refused["detail"]
    working, _ = await order_in(api, client, "in_progress")
    await set_status(api, client, working["id"], "completed", expect=403)

    assert (await api.call("GET", f"/api/orders/{assigned['id']}", client))["status"] == \
        "assigned"
    assert (await api.call("GET", f"/api/orders/{working['id']}", client))["status"] == \
        "in_progress"


async def test_a_master_cannot_cancel(api: Api) -> None:
    client = await api.register("client")
    order, master = await order_in(api, client, "assigned")
    refused = await set_status(api, master, order["id"], "cancelled", expect=403)
    assert "master" in refused["detail"]
    assert (await api.call("GET", f"/api/orders/{order['id']}", master))["status"] == "assigned"
    # the master may still move his own job on
    assert (await set_status(api, master, order["id"], "in_progress"))["status"] == "in_progress"


async def test_only_the_orders_own_master_moves_it(api: Api) -> None:
    client = await api.register("client")
    order, _ = await order_in(api, client, "assigned")
    _, stranger = await order_in(api, client, "assigned")
    await set_status(api, stranger, order["id"], "in_progress", expect=404)
    assert (await api.call("GET", f"/api/orders/{order['id']}", client))["status"] == "assigned"


async def test_the_client_cancelling_an_assigned_order_frees_the_master(api: Api) -> None:
    master = await api.master(specializations=["oven"])
    client = await api.register("client")
    first = await api.order(client, "oven")
    [offer] = await api.pending(master)
    await api.call("POST", f"/api/assignments/{offer['id']}/accept", master)
    waiting_client = await api.register("client")
    second = await api.order(waiting_client, "oven")
    assert await api.pending(master) == []  # busy with the first
    assert (await api.call("GET", f"/api/orders/{second['id']}", waiting_client))["status"] == \
        "new"

    cancelled = await set_status(api, client, first["id"], "cancelled")
    assert cancelled["status"] == "cancelled"
    assert cancelled["masterId"] == master.master_id  # history keeps who had the job

    [next_offer] = await api.pending(master)
    assert next_offer["orderId"] == second["id"]
    accepted = await api.call("POST", f"/api/assignments/{next_offer['id']}/accept", master)
    assert accepted["order"]["status"] == "assigned"
    # a master whose job was cancelled cannot move it on any more
    await set_status(api, master, first["id"], "in_progress", expect=409)


def test_the_statuses_a_request_may_name_are_the_order_statuses() -> None:
    from typing import get_args

    from dispatchwire.orders.models import OrderStatus
    from dispatchwire.orders.schemas import OrderStatus as RequestStatus

    assert set(get_args(RequestStatus)) == set(OrderStatus)
