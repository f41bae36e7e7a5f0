"""An order from creation to completion, with the events each step stores."""

from tests.conftest import Api
from tests.dispatch.support import events_of


async def test_order_walks_from_new_to_completed(api: Api) -> None:
    master = await api.master(specializations=["washing_machine"])
    client = await api.register("client", phone="+1 555 0100")
    order = await api.order(client)
    assert order["status"] == "new"
    assert order["master"] is None

    [offer] = await api.pending(master)
    assert offer["orderId"] == order["id"]
    assert set(offer) == {"id", "orderId", "applianceType", "problem", "address", "expiresAt",
                          "createdAt", "deliveredAt", "deliveredVia"}
    assert offer["deliveredVia"] == "poll"

    accepted = await api.call("POST", f"/api/assignments/{offer['id']}/accept", master)
    assert accepted["assignment"]["status"] == "accepted"
    assert accepted["order"]["status"] == "assigned"
    assert accepted["order"]["client"]["phone"] == "+1 555 0100"
    assert await api.pending(master) == []

    seen = await api.call("GET", f"/api/orders/{order['id']}", client)
    assert seen["status"] == "assigned"
    assert seen["master"]["id"] == master.master_id

    for status in ("in_progress", "completed"):
        moved = await api.call("POST", f"/api/orders/{order['id']}/status", master,
                               json={"status": status})
        assert moved["status"] == status

    client_events = await events_of(api, client)
    assert [(e["type"], e.get("status")) for e in client_events] == [
        ("order_status_update", "assigned"), ("order_status_update", "in_progress"),
        ("order_status_update", "completed")]
    assert [e["eventId"] for e in client_events] == [1, 2, 3]
    master_events = await events_of(api, master)
    assert [e["type"] for e in master_events] == ["new_assignment"] + ["order_status_update"] * 3
    assert master_events[0]["assignment"] == {
        key: value for key, value in offer.items() if key not in ("deliveredAt", "deliveredVia")}
    assert "client" not in master_events[0]["assignment"]


async def test_client_cancels_a_searching_order_and_the_offer_is_withdrawn(api: Api) -> None:
    master = await api.master()
    client = await api.register("client")
    order = await api.order(client)
    [offer] = await api.pending(master)

    cancelled = await api.call("POST", f"/api/orders/{order['id']}/status", client,
                               json={"status": "cancelled"})
    assert cancelled["status"] == "cancelled"
    assert await api.pending(master) == []
    events = await events_of(api, master)
    assert events[-1] == {"type": "assignment_expired", "eventId": 2, "assignmentId": offer["id"],
                          "reason": "withdrawn"}
    await api.call("POST", f"/api/assignments/{offer['id']}/accept", master, expect=409)


async def test_completing_a_job_frees_the_master_for_the_waiting_order(api: Api) -> None:
    master = await api.master()
    client = await api.register("client")
    first = await api.order(client)
    second = await api.order(client)
    [offer] = await api.pending(master)
    assert offer["orderId"] == first["id"]
    await api.call("POST", f"/api/assignments/{offer['id']}/accept", master)
    assert await api.pending(master) == []  # busy: the second order waits

    for status in ("in_progress", "completed"):
        await api.call("POST", f"/api/orders/{first['id']}/status", master,
                       json={"status": status})
    [next_offer] = await api.pending(master)
    assert next_offer["orderId"] == second["id"]
