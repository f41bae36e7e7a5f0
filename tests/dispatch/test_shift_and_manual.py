"""Ending a shift withdraws offers; admins offer orders by hand."""

from typing import Any

from tests.conftest import Api, Person
from tests.dispatch.support import (
    accept,
    events_of,
    expired_notices,
    offer_status,
    offers_of_order,
    order_ids,
    status_of,
)

# --- ending a shift ----------------------------------------------------------------------------


async def test_ending_a_shift_withdraws_the_offer_and_moves_the_order_on(api: Api) -> None:
    leaving = await api.master()
    staying = await api.master()
    client = await api.register("client")
    order = await api.order(client)
    [offer] = await api.pending(leaving)

    shift = await api.call("POST", "/api/masters/me/shift/end", leaving)
    assert shift == {"onShift": False}
    assert await api.pending(leaving) == []
    assert await offer_status(api, offer["id"]) == "cancelled"
    last = (await events_of(api, leaving))[-1]
    assert last["type"] == "assignment_expired"
    assert last["assignmentId"] == offer["id"]
    assert await order_ids(api, staying) == [order["id"]]
    await api.call("POST", f"/api/assignments/{offer['id']}/accept", leaving, expect=409)
    profile = await api.call("GET", "/api/masters/me", leaving)
    assert profile["onShift"] is False


async def test_a_withdrawn_order_with_no_one_else_waits_in_new(api: Api) -> None:
    master = await api.master()
    client = await api.register("client")
    order = await api.order(client)
    [offer] = await api.pending(master)

    await api.call("POST", "/api/masters/me/shift/end", master)
    assert await offer_status(api, offer["id"]) == "cancelled"
    assert await status_of(api, order, client) == "new"
    assert await offers_of_order(api, order["id"]) == [(master.master_id, "cancelled")]
    later = await api.order(client)
    assert await offers_of_order(api, later["id"]) == []


# --- manual offers -----------------------------------------------------------------------------


async def offer_by_hand(api: Api, who: Person, order_id: int, master_id: int,
                        expect: int = 201) -> Any:
    return await api.call("POST", "/api/admin/assignments", who, expect=expect,
                          json={"orderId": order_id, "masterId": master_id})


async def test_an_admin_offers_an_order_by_hand(api: Api) -> None:
    admin = await api.admin()
    previous = await api.master()
    chosen = await api.master()
    assert chosen.master_id is not None
    client = await api.register("client")
    order = await api.order(client, "oven")
    assert await api.pending(chosen) == []

    made = await offer_by_hand(api, admin, order["id"], chosen.master_id)
    assert made["orderId"] == order["id"]
    assert made["masterId"] == chosen.master_id
    assert made["status"] == "pending"
    assert made["applianceType"] == "oven"
    [offer] = await api.pending(chosen)
    assert offer["id"] == made["id"]
    [event] = await events_of(api, chosen)
    assert event["type"] == "new_assignment"
    assert offer.pop("deliveredVia") == "poll" and offer.pop("deliveredAt")
    assert event["assignment"] == offer
    accepted = await accept(api, chosen, offer)
    assert accepted["order"]["status"] == "assigned"
    assert accepted["order"]["master"]["id"] == chosen.master_id
    assert await api.pending(previous) == []


async def test_a_manual_offer_withdraws_the_previous_offer(api: Api) -> None:
    admin = await api.admin()
    previous = await api.master()
    chosen = await api.master()
    assert chosen.master_id is not None
    client = await api.register("client")
    order = await api.order(client)
    [old] = await api.pending(previous)

    made = await offer_by_hand(api, admin, order["id"], chosen.master_id)
    assert await offer_status(api, old["id"]) == "cancelled"
    assert await expired_notices(api, previous) == [old["id"]]
    assert await api.pending(previous) == []
    assert [o["id"] for o in await api.pending(chosen)] == [made["id"]]
    assert await offers_of_order(api, order["id"]) == [
        (previous.master_id, "cancelled"), (chosen.master_id, "pending")]
    await api.call("POST", f"/api/assignments/{old['id']}/accept", previous, expect=409)


async def test_the_master_relieved_by_a_manual_offer_gets_the_next_waiting_order(
        api: Api) -> None:
    admin = await api.admin()
    previous = await api.master(specializations=[])
    client = await api.register("client")
    order = await api.order(client, "refrigerator")
    waiting = await api.order(client, "washing_machine")  # `previous` is busy: it waits
    other = await api.master(specializations=["refrigerator"])  # cannot take `waiting`
    assert other.master_id is not None
    assert await api.pending(other) == []

    await offer_by_hand(api, admin, order["id"], other.master_id)
    assert await order_ids(api, other) == [order["id"]]
    assert await order_ids(api, previous) == [waiting["id"]]


async def test_manual_offers_of_unknown_orders_or_masters_are_404(api: Api) -> None:
    admin = await api.admin()
    master = await api.master()
    assert master.master_id is not None
    client = await api.register("client")
    order = await api.order(client)

    await offer_by_hand(api, admin, 999_999, master.master_id, expect=404)
    await offer_by_hand(api, admin, order["id"], 999_999, expect=404)
    assert await offers_of_order(api, order["id"]) == [(master.master_id, "pending")]


async def test_a_manual_offer_of_an_order_not_in_new_is_409(api: Api) -> None:
    admin = await api.admin()
    master = await api.master()
    other = await api.master(on_shift=False)
    assert other.master_id is not None
    client = await api.register("client")
    taken = await api.order(client)
    await accept(api, master, (await api.pending(master))[0])
    dropped = await api.order(client)
    await api.call("POST", f"/api/orders/{dropped['id']}/status", client,
                   json={"status": "cancelled"})
    await api.call("POST", "/api/masters/me/shift/start", other)

    await offer_by_hand(api, admin, taken["id"], other.master_id, expect=409)
    await offer_by_hand(api, admin, dropped["id"], other.master_id, expect=409)
    assert await api.pending(other) == []


async def test_a_manual_offer_to_a_master_off_shift_is_409(api: Api) -> None:
    admin = await api.admin()
    resting = await api.master(on_shift=False)
    assert resting.master_id is not None
    client = await api.register("client")
    order = await api.order(client)

    await offer_by_hand(api, admin, order["id"], resting.master_id, expect=409)
    assert await api.pending(resting) == []
    assert await offers_of_order(api, order["id"]) == []


async def test_a_manual_offer_to_a_master_holding_another_offer_is_409(api: Api) -> None:
    admin = await api.admin()
    holder = await api.master()
    assert holder.master_id is not None
    client = await api.register("client")
    held = await api.order(client)
    waiting = await api.order(client)
    [offer] = await api.pending(holder)

    await offer_by_hand(api, admin, waiting["id"], holder.master_id, expect=409)
    assert [o["id"] for o in await api.pending(holder)] == [offer["id"]]
    assert await offer_status(api, offer["id"]) == "pending"
    assert await offers_of_order(api, waiting["id"]) == []
    assert await offers_of_order(api, held["id"]) == [(holder.master_id, "pending")]


async def test_a_manual_offer_to_a_master_busy_with_a_job_is_409(api: Api) -> None:
    admin = await api.admin()
    busy = await api.master()
    assert busy.master_id is not None
    client = await api.register("client")
    await api.order(client)
    await accept(api, busy, (await api.pending(busy))[0])
    waiting = await api.order(client)

    await offer_by_hand(api, admin, waiting["id"], busy.master_id, expect=409)
    assert await offers_of_order(api, waiting["id"]) == []


async def test_only_admins_offer_by_hand(api: Api) -> None:
    master = await api.master(on_shift=False)
    assert master.master_id is not None
    client = await api.register("client")
    order = await api.order(client)
    await api.call("POST", "/api/masters/me/shift/start", master)
    [offer] = await api.pending(master)
    other = await api.master()
    assert other.master_id is not None

    for who in (client, master, other):
        await offer_by_hand(api, who, order["id"], other.master_id, expect=403)
    await api.call("POST", "/api/admin/assignments", None, expect=401,
                   json={"orderId": order["id"], "masterId": other.master_id})
    assert await offer_status(api, offer["id"]) == "pending"
    assert await api.pending(other) == []
