"""A user sees only what is theirs, and each role may do only its own part."""

import json
from typing import Any

from tests.conftest import Api, Person

OFFER_FIELDS = {"id", "orderId", "applianceType", "problem", "address", "expiresAt", "createdAt",
                "deliveredAt", "deliveredVia"}
CLIENT_NAME = "Zelda Quixote"
CLIENT_PHONE = "+1 555 0199"


async def contact_client(api: Api) -> Person:
    """A client whose name and phone are easy to spot in any JSON."""
    return await api.register("client", name=CLIENT_NAME, phone=CLIENT_PHONE)


def leaks_contact(data: Any) -> bool:
    text = json.dumps(data)
    return CLIENT_NAME in text or CLIENT_PHONE in text


async def accepted_job(api: Api) -> tuple[Person, Person, dict[str, Any]]:
    """A master who has accepted an order of a client: (master, client, order)."""
    master = await api.master()
    client = await contact_client(api)
    await api.order(client)
    [offer] = await api.pending(master)
    accepted = await api.call("POST", f"/api/assignments/{offer['id']}/accept", master)
    return master, client, accepted["order"]


async def test_another_clients_order_does_not_exist(api: Api) -> None:
    owner = await api.register("client")
    other = await api.register("client")
    order = await api.order(owner)
    path = f"/api/orders/{order['id']}"

    assert (await api.call("GET", path, owner))["id"] == order["id"]
    missing = await api.call("GET", path, other, expect=404)
    assert missing["detail"]
    # the same answer as for an order that was never made
    never = await api.call("GET", f"/api/orders/{order['id'] + 1000}", other, expect=404)
    assert missing["detail"].replace(str(order["id"]), "N") == \
        never["detail"].replace(str(order["id"] + 1000), "N")

    await api.call("POST", f"{path}/status", other, expect=404, json={"status": "cancelled"})
    assert (await api.call("GET", path, owner))["status"] == "new"


async def test_a_master_cannot_read_an_order_offered_to_someone_else(api: Api) -> None:
    offered = await api.master()
    client = await contact_client(api)
    order = await api.order(client)
    [offer] = await api.pending(offered)
    assert offer["orderId"] == order["id"]
    bystander = await api.master()
    assert await api.pending(bystander) == []

    for master in (bystander, offered):  # not even the master it is offered to, before accepting
        data = await api.call("GET", f"/api/orders/{order['id']}", master, expect=404)
        assert not leaks_contact(data)
        data = await api.call("POST", f"/api/orders/{order['id']}/status", master, expect=404,
                              json={"status": "in_progress"})
        assert not leaks_contact(data)
        assert await api.call("GET", "/api/orders", master) == []


async def test_pending_offers_carry_basic_information_only(api: Api) -> None:
    master = await api.master()
    client = await contact_client(api)
    order = await api.order(client, "refrigerator", problem="it is warm inside",
                            address="7 Elm Rd", lat=51.5, lon=-0.1)
    offers = await api.pending(master)
    [offer] = offers
    assert set(offer) == OFFER_FIELDS
    assert offer["orderId"] == order["id"]
    assert (offer["applianceType"], offer["problem"], offer["address"]) == \
        ("refrigerator", "it is warm inside", "7 Elm Rd")
    assert not leaks_contact(offers)
    assert "client" not in json.dumps(offers).lower()  # no clientId, no client object


async def test_after_accepting_the_master_sees_the_clients_contact(api: Api) -> None:
    master = await api.master()
    client = await contact_client(api)
    order = await api.order(client)
    [offer] = await api.pending(master)
    accepted = await api.call("POST", f"/api/assignments/{offer['id']}/accept", master)
    assert accepted["order"]["client"] == {"id": client.id, "name": CLIENT_NAME,
                                           "phone": CLIENT_PHONE}

    seen = await api.call("GET", f"/api/orders/{order['id']}", master)
    assert seen["client"] == {"id": client.id, "name": CLIENT_NAME, "phone": CLIENT_PHONE}
    assert seen["status"] == "assigned"
    [listed] = await api.call("GET", "/api/orders", master)
    assert listed["id"] == order["id"]
    assert listed["client"]["phone"] == CLIENT_PHONE

    # the client, in turn, sees who is coming
    own = await api.call("GET", f"/api/orders/{order['id']}", client)
    assert own["master"]["id"] == master.master_id


async def test_order_lists_hold_only_the_callers_orders(api: Api) -> None:
    master, client, job = await accepted_job(api)
    other_master = await api.master()
    other_client = await api.register("client")
    mine = [await api.order(client) for _ in range(2)]
    theirs = await api.order(other_client)
    admin = await api.admin()
    admins_own = await api.order(admin)

    listed = await api.call("GET", "/api/orders", client)
    assert [o["id"] for o in listed] == sorted([job["id"], *(o["id"] for o in mine)],
                                               reverse=True)
    assert all(o["clientId"] == client.id for o in listed)
    assert [o["id"] for o in await api.call("GET", "/api/orders", other_client)] == [theirs["id"]]

    # a master: only accepted jobs, not the order currently offered to him
    assert [o["id"] for o in await api.call("GET", "/api/orders", master)] == [job["id"]]
    assert await api.call("GET", "/api/orders", other_master) == []

    everything = {o["id"] for o in await api.call("GET", "/api/orders", admin)}
    assert everything == {job["id"], theirs["id"], admins_own["id"], *(o["id"] for o in mine)}
    for order in (job, theirs, mine[0]):
        assert (await api.call("GET", f"/api/orders/{order['id']}", admin))["id"] == order["id"]


async def test_the_status_filter_applies_within_what_is_visible(api: Api) -> None:
    _, client, job = await accepted_job(api)
    other = await api.register("client")
    await api.order(other)
    waiting = await api.order(client)
    new = await api.call("GET", "/api/orders", client, params={"status": "new"})
    assert [o["id"] for o in new] == [waiting["id"]]
    assigned = await api.call("GET", "/api/orders", client, params={"status": "assigned"})
    assert [o["id"] for o in assigned] == [job["id"]]


async def test_a_master_cannot_accept_or_reject_another_masters_offer(api: Api) -> None:
    offered = await api.master()
    client = await api.register("client")
    await api.order(client)
    [offer] = await api.pending(offered)
    other = await api.master()
    for action in ("accept", "reject"):
        data = await api.call("POST", f"/api/assignments/{offer['id']}/{action}", other,
                              expect=404)
        assert not leaks_contact(data)
    assert await api.pending(offered) == [offer]  # still open for the right master
    await api.call("POST", f"/api/assignments/{offer['id']}/accept", offered)


async def test_role_checks(api: Api) -> None:
    client = await api.register("client")
    master = await api.master()
    order = await api.order(client)
    [offer] = await api.pending(master)
    body = {"applianceType": "oven", "problem": "no heat", "address": "2 Main St"}

    forbidden: list[tuple[Person, str, str, dict[str, Any] | None]] = [
        (master, "POST", "/api/orders", body),
        (client, "POST", f"/api/assignments/{offer['id']}/accept", None),
        (client, "POST", f"/api/assignments/{offer['id']}/reject", None),
        (client, "GET", "/api/assignments/pending", None),
        (client, "GET", "/api/masters/me", None),
        (client, "PATCH", "/api/masters/me", {"specializations": ["oven"]}),
        (client, "POST", "/api/masters/me/shift/start", None),
        (client, "POST", "/api/masters/me/shift/end", None),
    ]
    for who in (client, master):
        forbidden += [
            (who, "GET", "/api/admin/websocket/stats", None),
            (who, "POST", "/api/admin/assignments",
             {"orderId": order["id"], "masterId": master.master_id}),
        ]
    for who, method, path, payload in forbidden:
        data = await api.call(method, path, who, expect=403, json=payload)
        assert data["detail"], (method, path)

    # none of the refused calls changed anything
    assert await api.pending(master) == [offer]
    assert await api.call("GET", "/api/orders", master) == []
    assert [o["id"] for o in await api.call("GET", "/api/orders", client)] == [order["id"]]
    assert (await api.call("GET", f"/api/orders/{order['id']}", client))["status"] == "new"


async def test_an_admin_may_do_the_admin_only_calls(api: Api) -> None:
    admin = await api.admin()
    stats = await api.call("GET", "/api/admin/websocket/stats", admin)
    assert stats["totalConnected"] == 0
    await api.call("GET", "/api/masters/me", admin, expect=403)  # but has no master profile
